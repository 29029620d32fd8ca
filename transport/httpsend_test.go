package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file checks Send on the streams of SSE, LongPoll and Poll, and that
// the values of Request.Query stay out of error texts.

// sendKinds are the HTTP transports whose streams send, each made with its
// stream at streamURL and its SendURL set to sendURL.
var sendKinds = []struct {
	name string
	make func(streamURL, sendURL string) Transport
}{
	{NameSSE, func(u, s string) Transport { return &SSE{URL: u, SendURL: s} }},
	{NameLongPoll, func(u, s string) Transport {
		return &LongPoll{URL: u, SendURL: s, Hold: 50 * time.Millisecond}
	}},
	{NamePoll, func(u, s string) Transport { return &Poll{URL: u, SendURL: s, Interval: time.Millisecond} }},
}

// forEachSender runs test once per HTTP transport.
func forEachSender(t *testing.T, test func(t *testing.T, name string, mk func(streamURL, sendURL string) Transport)) {
	for _, k := range sendKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.name, k.make) })
	}
}

// sentRequest is what a sendServer recorded of one request other than a GET.
type sentRequest struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   string
}

// sendServer serves the streams of every HTTP transport and records the
// POSTs it receives. A GET for an event stream opens one that stays silent;
// the first poll GET is answered at once with no message, and later ones are
// held until the client gives up, so that Next stays busy without spinning.
// Any other request is recorded and answered by reply, 204 when it is nil.
type sendServer struct {
	*httptest.Server
	reply func(w http.ResponseWriter, r *http.Request)

	mu    sync.Mutex
	gets  int
	posts []sentRequest
}

func newSendServer(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *sendServer {
	t.Helper()
	ss := &sendServer{reply: reply}
	ss.Server = httptest.NewServer(http.HandlerFunc(ss.serve))
	t.Cleanup(ss.Close)
	return ss
}

func (ss *sendServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		ss.mu.Lock()
		ss.gets++
		first := ss.gets == 1
		ss.mu.Unlock()
		switch {
		case r.Header.Get("Accept") == "text/event-stream":
			streamHandler()(w, r)
			<-r.Context().Done()
		case first:
			w.WriteHeader(http.StatusNoContent)
		default:
			<-r.Context().Done()
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	ss.mu.Lock()
	ss.posts = append(ss.posts, sentRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: string(body)})
	ss.mu.Unlock()
	if ss.reply == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ss.reply(w, r)
}

// sent returns a copy of the requests recorded so far.
func (ss *sendServer) sent() []sentRequest {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append([]sentRequest(nil), ss.posts...)
}

// sendOpen opens tr for the test; the stream is closed when it ends.
func sendOpen(t *testing.T, tr Transport, req Request) Sender {
	t.Helper()
	st := pollMustOpen(t, tr, req)
	s, ok := st.(Sender)
	if !ok {
		t.Fatalf("%T does not implement Sender", st)
	}
	return s
}

// expectSendError checks that err is a *Error of op "send" from transport
// name, of the given class, matching every target.
func expectSendError(t *testing.T, err error, name string, class Class, targets ...error) *Error {
	t.Helper()
	te := expectPollError(t, err, class, "send", targets...)
	if te.Transport != name {
		t.Fatalf("error %v: transport %q, want %q", err, te.Transport, name)
	}
	return te
}

func TestHTTPSend_delivers(t *testing.T) {
	tests := []struct {
		name, data, key, wantType string
	}{
		{"json with key", `{"op":"buy","qty":3}`, "k-1", "application/json"},
		{"json array", `[1,2]`, "", "application/json"},
		{"text", "hello there", "k-2", "text/plain; charset=utf-8"},
		{"broken json", `{"op":`, "", "text/plain; charset=utf-8"},
		{"empty", "", "", "text/plain; charset=utf-8"},
	}
	forEachSender(t, func(t *testing.T, _ string, mk func(string, string) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newSendServer(t, nil)
				req := Request{
					Query:  url.Values{"token": {"q-secret"}},
					Header: http.Header{"Authorization": {"Bearer h-secret"}},
				}
				st := sendOpen(t, mk(srv.URL+"/stream?token=stale", srv.URL+"/send?token=stale&room=7"), req)
				if err := st.Send(pollCtx(t), []byte(tt.data), tt.key); err != nil {
					t.Fatalf("Send: %v", err)
				}
				sent := srv.sent()
				if len(sent) != 1 {
					t.Fatalf("server saw %d POSTs, want 1", len(sent))
				}
				got := sent[0]
				if got.method != http.MethodPost || got.path != "/send" || got.body != tt.data {
					t.Errorf("%s %s %q, want POST /send %q", got.method, got.path, got.body, tt.data)
				}
				if q := got.query; len(q["token"]) != 1 || q.Get("token") != "q-secret" || q.Get("room") != "7" || q.Has("since") {
					t.Errorf("query %v, want token=q-secret replacing the URL's, room=7 kept, no cursor", q)
				}
				if a := got.header.Get("Authorization"); a != "Bearer h-secret" {
					t.Errorf("Authorization = %q", a)
				}
				if ct := got.header.Get("Content-Type"); ct != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
				}
				if keys, ok := got.header["Idempotency-Key"]; tt.key == "" && ok || tt.key != "" && (len(keys) != 1 || keys[0] != tt.key) {
					t.Errorf("Idempotency-Key = %q (present %v), want %q", keys, ok, tt.key)
				}
			})
		}
	})
}

func TestHTTPSend_defaultSendURL(t *testing.T) {
	forEachSender(t, func(t *testing.T, _ string, mk func(string, string) Transport) {
		srv := newSendServer(t, nil)
		st := sendOpen(t, mk(srv.URL+"/stream?topic=a", ""), Request{Cursor: "c9"})
		if err := st.Send(pollCtx(t), []byte("x"), ""); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent := srv.sent()
		if len(sent) != 1 || sent[0].path != "/stream" || sent[0].query.Get("topic") != "a" || sent[0].query.Has("since") {
			t.Fatalf("POSTs %+v, want one to /stream?topic=a without cursor", sent)
		}
	})
}

func TestHTTPSend_afterEnd(t *testing.T) {
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		t.Run("Close", func(t *testing.T) {
			srv := newSendServer(t, nil)
			st := sendOpen(t, mk(srv.URL+"/stream", ""), Request{})
			pollCloseWithin(t, st.(Stream))
			err := st.Send(pollCtx(t), []byte("late"), "k")
			expectSendError(t, err, name, Transient, net.ErrClosed, ErrTransient)
			if n := len(srv.sent()); n != 0 {
				t.Fatalf("server saw %d POSTs after Close, want none", n)
			}
		})
		t.Run("Open ctx ends", func(t *testing.T) {
			srv := newSendServer(t, nil)
			ctx, cancel := context.WithCancel(pollCtx(t))
			st, err := mk(srv.URL+"/stream", "").Open(ctx, Request{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			cancel()
			err = st.(Sender).Send(pollCtx(t), []byte("late"), "k")
			expectSendError(t, err, name, Transient, net.ErrClosed, context.Canceled)
			if n := len(srv.sent()); n != 0 {
				t.Fatalf("server saw %d POSTs after the stream ended, want none", n)
			}
		})
	})
}

func TestHTTPSend_status(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		header     []string
		class      Class // zero: Send succeeds
		retryAfter time.Duration
		target     error
	}{
		{"200", 200, nil, 0, 0, nil},
		{"202", 202, nil, 0, 0, nil},
		{"500", 500, nil, Transient, 0, ErrTransient},
		{"503 retry-after", 503, []string{"Retry-After", "4"}, Transient, 4 * time.Second, ErrTransient},
		{"429", 429, nil, Transient, 0, ErrTransient},
		{"400", 400, nil, Permanent, 0, ErrPermanent},
		{"401", 401, nil, Permanent, 0, ErrPermanent},
		{"404", 404, nil, Unsupported, 0, ErrUnsupported},
		{"410", 410, nil, Permanent, 0, ErrPermanent},
	}
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newSendServer(t, pollReplyStatus(tt.code, tt.header...))
				st := sendOpen(t, mk(srv.URL+"/stream", srv.URL+"/send"), Request{})
				err := st.Send(pollCtx(t), []byte(`{}`), "k")
				if tt.class == 0 {
					if err != nil {
						t.Fatalf("Send: %v", err)
					}
					return
				}
				te := expectSendError(t, err, name, tt.class, tt.target)
				if te.StatusCode != tt.code || te.RetryAfter != tt.retryAfter {
					t.Fatalf("error %v: status %d retry %v, want %d %v", err, te.StatusCode, te.RetryAfter, tt.code, tt.retryAfter)
				}
			})
		}
	})
}

func TestHTTPSend_redirects(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		class   Class // zero: delivered
		wantGot string
	}{
		{"307 keeps the POST", http.StatusTemporaryRedirect, 0, "POST payload"},
		{"308 keeps the POST", http.StatusPermanentRedirect, 0, "POST payload"},
		{"303 would turn it into a GET", http.StatusSeeOther, Permanent, "GET "},
		{"302 would turn it into a GET", http.StatusFound, Permanent, "GET "},
	}
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := make(chan string, 1)
				streams := &sendServer{}
				srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/old":
						http.Redirect(w, r, "/new", tt.code)
					case "/new":
						body, _ := io.ReadAll(r.Body)
						got <- r.Method + " " + string(body)
					default:
						streams.serve(w, r)
					}
				})
				st := sendOpen(t, mk(srv.URL+"/stream", srv.URL+"/old"), Request{})
				err := st.Send(pollCtx(t), []byte("payload"), "")
				if tt.class == 0 && err != nil {
					t.Fatalf("Send: %v", err)
				}
				if tt.class != 0 {
					if te := expectSendError(t, err, name, tt.class); te.StatusCode != tt.code {
						t.Fatalf("error %v: status %d, want the redirect's %d", err, te.StatusCode, tt.code)
					}
				}
				if g := <-got; g != tt.wantGot {
					t.Fatalf("the target saw %q, want %q", g, tt.wantGot)
				}
			})
		}
	})
}

func TestHTTPSend_connectionFailures(t *testing.T) {
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		t.Run("redirect loop", func(t *testing.T) {
			streams := &sendServer{}
			srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/loop" {
					http.Redirect(w, r, "/loop", http.StatusTemporaryRedirect)
					return
				}
				streams.serve(w, r)
			})
			st := sendOpen(t, mk(srv.URL+"/stream", srv.URL+"/loop"), Request{})
			err := st.Send(pollCtx(t), []byte("x"), "")
			expectSendError(t, err, name, Permanent, ErrTooManyRedirects)
		})
		t.Run("refused", func(t *testing.T) {
			srv := newSendServer(t, nil)
			st := sendOpen(t, mk(srv.URL+"/stream", sendClosedURL(t)+"/send"), Request{Query: url.Values{"token": {"s3cret"}}})
			err := st.Send(pollCtx(t), []byte("x"), "")
			expectSendError(t, err, name, Transient, ErrTransient)
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("error %v does not carry the *url.Error", err)
			}
			if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "token=REDACTED") {
				t.Errorf("error text %q shows the query value or hides where it was", err)
			}
		})
	})
}

// sendClosedURL returns the address of a loopback port that nothing listens
// on any more.
func sendClosedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestHTTPSend_badSendURL(t *testing.T) {
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		for _, bad := range []string{"ws://127.0.0.1/send", "/relative", "http://", "http://[::1"} {
			t.Run(bad, func(t *testing.T) {
				srv := newSendServer(t, nil)
				st, err := mk(srv.URL+"/stream", bad).Open(pollCtx(t), Request{})
				if st != nil {
					st.Close()
					t.Fatal("Open returned a stream")
				}
				if te := expectPollError(t, err, Permanent, "open", ErrPermanent); te.Transport != name {
					t.Fatalf("error %v from %q, want %q", err, te.Transport, name)
				}
				srv.mu.Lock()
				n := srv.gets
				srv.mu.Unlock()
				if n != 0 {
					t.Fatalf("server saw %d requests, want none before the SendURL is checked", n)
				}
			})
		}
	})
}

func TestHTTPSend_cutShort(t *testing.T) {
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		for _, tc := range []struct {
			name   string
			closes bool // Close the stream; else cancel Send's ctx
			target error
		}{
			{"by Close", true, net.ErrClosed},
			{"by ctx", false, context.Canceled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				arrived := make(chan struct{})
				srv := newSendServer(t, func(_ http.ResponseWriter, r *http.Request) {
					close(arrived)
					<-r.Context().Done()
				})
				st := sendOpen(t, mk(srv.URL+"/stream", srv.URL+"/send"), Request{})
				ctx, cancel := context.WithCancel(pollCtx(t))
				defer cancel()
				errc := make(chan error, 1)
				go func() { errc <- st.Send(ctx, []byte("x"), "") }()
				pushAwait(t, arrived, "the POST to reach the server")
				if tc.closes {
					pollCloseWithin(t, st.(Stream))
				} else {
					cancel()
				}
				select {
				case err := <-errc:
					expectSendError(t, err, name, Transient, tc.target)
				case <-time.After(pushBound):
					t.Fatal("Send did not return")
				}
			})
		}
	})
}

func TestHTTPSend_concurrentWithNext(t *testing.T) {
	const sends = 8
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		srv := newSendServer(t, nil)
		st := sendOpen(t, mk(srv.URL+"/stream", srv.URL+"/send"), Request{})
		nextErr := make(chan error, 1)
		go func() {
			_, err := st.(Stream).Next(context.Background())
			nextErr <- err
		}()
		var wg sync.WaitGroup
		errs := make([]error, sends)
		for i := range sends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.Send(pollCtx(t), []byte(fmt.Sprint(i)), fmt.Sprint("k", i))
			}()
		}
		pushWithin(t, "the Sends", wg.Wait)
		for i, err := range errs {
			if err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		}
		keys := map[string]bool{}
		for _, s := range srv.sent() {
			keys[s.header.Get("Idempotency-Key")] = true
		}
		if len(keys) != sends {
			t.Errorf("server saw keys %v, want %d distinct", keys, sends)
		}
		select {
		case err := <-nextErr:
			t.Fatalf("Next returned early: %v", err)
		default:
		}
		pollCloseWithin(t, st.(Stream))
		select {
		case err := <-nextErr:
			if te := expectPollError(t, err, Transient, "read", net.ErrClosed); te.Transport != name {
				t.Fatalf("Next error from %q", te.Transport)
			}
		case <-time.After(pushBound):
			t.Fatal("Next did not return after Close")
		}
	})
}

func TestHTTP_Open_redactsQuery(t *testing.T) {
	forEachSender(t, func(t *testing.T, name string, mk func(string, string) Transport) {
		_, err := mk(sendClosedURL(t)+"/stream?token=s3cret&room=1", "").Open(pollCtx(t),
			Request{Query: url.Values{"token": {"s3cret"}}})
		if te := expectPollError(t, err, Transient, "open", ErrTransient); te.Transport != name {
			t.Fatalf("error %v from %q", err, te.Transport)
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			t.Errorf("error %v does not carry the *url.Error", err)
		}
		if text := err.Error(); strings.Contains(text, "s3cret") || !strings.Contains(text, "token=REDACTED") || !strings.Contains(text, "room=1") {
			t.Errorf("error text %q: want the token redacted and the rest of the URL kept", text)
		}
	})
}

func TestWithQuery(t *testing.T) {
	u, err := url.Parse("http://h/p?a=1&t=old&t=older#frag")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"t": {"n1", "n2"}, "b": {"x y"}}
	got := withQuery(u, q)
	if want := "http://h/p?a=1&b=x+y&t=n1&t=n2#frag"; got.String() != want {
		t.Fatalf("withQuery = %s, want %s", got, want)
	}
	if u.RawQuery != "a=1&t=old&t=older" {
		t.Fatalf("withQuery changed its argument: %s", u)
	}
	q["t"][0] = "changed"
	if got.Query().Get("t") != "n1" {
		t.Fatal("the result shares the query's slices")
	}
	if withQuery(u, nil) != u {
		t.Fatal("an empty query should leave the URL as it is")
	}
}
