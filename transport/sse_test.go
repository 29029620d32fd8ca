package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sseServer starts a loopback server for the test. Handlers that wait should
// also select on r.Context().Done(), which ends when the client goes away.
func sseServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// streamHandler answers with an event stream and writes each part flushed.
func streamHandler(parts ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for _, p := range parts {
			sseWrite(w, p)
		}
	}
}

func sseWrite(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// openSSE opens a stream that lives until the end of the test.
func openSSE(t *testing.T, tr *SSE, req Request) Stream {
	t.Helper()
	st, err := tr.Open(t.Context(), req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// nextMsg calls Next with a bound, so that a bug fails instead of hanging.
func nextMsg(t *testing.T, st Stream) (Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return st.Next(ctx)
}

func wantMsg(t *testing.T, st Stream, want Message) {
	t.Helper()
	got, err := nextMsg(t, st)
	if err != nil {
		t.Fatalf("Next: %v, want %+v", err, want)
	}
	if got.ID != want.ID || got.Event != want.Event || string(got.Data) != string(want.Data) {
		t.Fatalf("Next = {ID:%q Event:%q Data:%q}, want {ID:%q Event:%q Data:%q}",
			got.ID, got.Event, got.Data, want.ID, want.Event, want.Data)
	}
}

// wantErr checks the class and the wrapped sentinel (if any) of err.
func wantErr(t *testing.T, err error, class Class, is error) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *Error", err, err)
	}
	if te.Class != class || te.Transport != NameSSE {
		t.Fatalf("error %v: class %v transport %q, want %v %q", err, te.Class, te.Transport, class, NameSSE)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %v does not match %v", err, is)
	}
	return te
}

func TestSSE_Next_events(t *testing.T) {
	srv := sseServer(t, streamHandler(
		": welcome\n\n",
		"id: 1\nevent: greet\ndata: hello\ndata: world\n\n",
		"data: no id of its own\n\n",
		"id: 3\r\ndata: crlf\r\n\r\n",
		"event: named\rdata: cr\r\r",
		"retry: 100\n\n", // no data: not an event
		"data: {\"a\":",  // one event split over two writes
		"1}\nid: 6\n\n",
		"id: 9\n\n",       // no data: not an event, but the id applies
		"event: bare\n\n", // no data: not an event
		"data: after\n\n",
		"data: unterminated at the end\n",
	))
	st := openSSE(t, &SSE{URL: srv.URL}, Request{})
	for _, want := range []Message{
		{ID: "1", Event: "greet", Data: []byte("hello\nworld")},
		{Data: []byte("no id of its own")},
		{ID: "3", Data: []byte("crlf")},
		{Event: "named", Data: []byte("cr")},
		{ID: "6", Data: []byte(`{"a":1}`)},
		{ID: "9", Data: []byte("after")},
	} {
		wantMsg(t, st, want)
	}
	_, err := nextMsg(t, st)
	wantErr(t, err, Transient, errSSEServerClosed)
	if errors.Is(err, io.EOF) {
		t.Fatalf("a server closing the stream must not look like an end of stream: %v", err)
	}
	if _, again := nextMsg(t, st); again != err {
		t.Fatalf("Next after the end = %v, want the same error %v", again, err)
	}
}

func TestSSE_Next_replayedCursorKeepsID(t *testing.T) {
	// A server that replays the cursor's own event must see it delivered with
	// its id, so that the client's dedupe can drop it.
	srv := sseServer(t, streamHandler("id: 7\ndata: seven\n\n", "data: eight\n\n"))
	st := openSSE(t, &SSE{URL: srv.URL}, Request{Cursor: "7"})
	wantMsg(t, st, Message{ID: "7", Data: []byte("seven")})
	wantMsg(t, st, Message{Data: []byte("eight")})
}

func TestSSE_Open_headers(t *testing.T) {
	for _, tc := range []struct {
		name, cursor string
		header       http.Header
	}{
		{name: "no cursor", header: http.Header{"Last-Event-Id": {"stale"}}},
		{name: "cursor", cursor: "42"},
		{name: "header overrides Accept", header: http.Header{"Accept": {"text/event-stream, */*;q=0.1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan http.Header, 1)
			srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Clone()
				streamHandler()(w, r)
			})
			header := http.Header{"X-Token": {"secret"}}
			for k, v := range tc.header {
				header[k] = v
			}
			openSSE(t, &SSE{URL: srv.URL}, Request{Cursor: tc.cursor, Header: header})
			h := <-got
			want := map[string]string{
				"Accept": "text/event-stream", "Cache-Control": "no-cache", "X-Token": "secret",
			}
			if a := tc.header.Get("Accept"); a != "" {
				want["Accept"] = a
			}
			for k, want := range want {
				if h.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, h.Get(k), want)
				}
			}
			ids, sent := h["Last-Event-Id"]
			switch {
			case tc.cursor == "" && sent:
				t.Errorf("Last-Event-ID sent without a cursor: %q", ids)
			case tc.cursor != "" && (len(ids) != 1 || ids[0] != tc.cursor):
				t.Errorf("Last-Event-ID = %q, want %q", ids, tc.cursor)
			}
		})
	}
}

func TestSSE_Open_response(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		retryAfter  string
		class       Class // zero: the stream opens
		is          error
		wantRetry   time.Duration
	}{
		{name: "event stream with charset", status: 200, contentType: "text/event-stream; charset=utf-8"},
		{name: "event stream upper case", status: 200, contentType: "Text/Event-Stream"},
		{name: "text/plain", status: 200, contentType: "text/plain", class: Unsupported, is: ErrBadContentType},
		{name: "json", status: 200, contentType: "application/json", class: Unsupported, is: ErrBadContentType},
		{name: "no content type", status: 200, class: Unsupported, is: ErrBadContentType},
		{name: "204", status: 204, class: EndOfStream, is: io.EOF},
		{name: "410", status: 410, class: EndOfStream, is: io.EOF},
		{name: "401", status: 401, class: Permanent, is: ErrPermanent},
		{name: "403", status: 403, class: Unsupported, is: ErrUnsupported},
		{name: "400", status: 400, class: Permanent, is: ErrPermanent},
		{name: "404", status: 404, class: Unsupported, is: ErrUnsupported},
		{name: "405", status: 405, class: Unsupported, is: ErrUnsupported},
		{name: "503 retry after", status: 503, retryAfter: "3", class: Transient, is: ErrTransient, wantRetry: 3 * time.Second},
		{name: "429", status: 429, class: Transient, is: ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing: send none
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				if tc.status != 204 {
					io.WriteString(w, "data: x\n\n")
				}
			})
			st, err := (&SSE{URL: srv.URL}).Open(t.Context(), Request{})
			if tc.class == 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer st.Close()
				wantMsg(t, st, Message{Data: []byte("x")})
				return
			}
			if st != nil {
				st.Close()
				t.Fatal("Open returned a stream with an error")
			}
			te := wantErr(t, err, tc.class, tc.is)
			if te.Op != "open" || te.StatusCode != tc.status || te.RetryAfter != tc.wantRetry {
				t.Fatalf("error %v: op %q status %d retry %v, want open %d %v",
					err, te.Op, te.StatusCode, te.RetryAfter, tc.status, tc.wantRetry)
			}
			if tc.is == ErrBadContentType && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.contentType)) {
				t.Fatalf("error %q does not name the content type received", err)
			}
		})
	}
}

func TestSSE_Open_failures(t *testing.T) {
	loop := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	})
	tlsSrv := httptest.NewUnstartedServer(streamHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, url string
		class     Class
		is        error
	}{
		{"redirect loop", loop.URL, Permanent, ErrTooManyRedirects},
		{"untrusted certificate", tlsSrv.URL, Permanent, ErrPermanent},
		{"bad URL", "http://[::1", Permanent, ErrPermanent},
		{"wrong scheme", "ftp://127.0.0.1/", Permanent, ErrPermanent},
		{"no host", "http:///path", Permanent, ErrPermanent},
		{"connection refused", refused, Transient, ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := (&SSE{URL: tc.url}).Open(t.Context(), Request{})
			if st != nil {
				st.Close()
			}
			wantErr(t, err, tc.class, tc.is)
		})
	}
}

func TestSSE_Next_retryHint(t *testing.T) {
	srv := sseServer(t, streamHandler("retry: 2500\n\n", "data: a\n\n"))
	st := openSSE(t, &SSE{URL: srv.URL}, Request{})
	wantMsg(t, st, Message{Data: []byte("a")}) // the retry-only block was not an event
	_, err := nextMsg(t, st)
	if te := wantErr(t, err, Transient, errSSEServerClosed); te.RetryAfter != 2500*time.Millisecond || te.Op != "read" {
		t.Fatalf("error %v: retry %v op %q, want 2.5s read", err, te.RetryAfter, te.Op)
	}
}

func TestSSE_Next_tooLarge(t *testing.T) {
	const limit = 1024
	for _, tc := range []struct {
		name  string
		event string
		ok    bool
	}{
		{"at the limit", "data: " + strings.Repeat("a", limit) + "\n\n", true},
		{"data over the limit", "data: " + strings.Repeat("a", limit+1) + "\n\n", false},
		{"event over the parser's bound", "data: " + strings.Repeat("a", 100<<10) + "\n\n", false},
		{"many lines over the limit", strings.Repeat("data: "+strings.Repeat("a", 99)+"\n", 11) + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, streamHandler(tc.event, "data: next\n\n"))
			st := openSSE(t, &SSE{URL: srv.URL}, Request{MaxMessageSize: limit})
			msg, err := nextMsg(t, st)
			if tc.ok {
				if err != nil || len(msg.Data) != limit {
					t.Fatalf("Next = %d bytes, %v; want %d bytes", len(msg.Data), err, limit)
				}
				return
			}
			wantErr(t, err, Transient, ErrMessageTooLarge)
		})
	}
}

func TestSSE_Open_clientTimeoutSparesStream(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler("data: 1\n\n")(w, r)
		select {
		case <-time.After(400 * time.Millisecond):
			sseWrite(w, "data: 2\n\n")
		case <-r.Context().Done():
		}
	})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: client})
	wantMsg(t, st, Message{Data: []byte("1")})
	wantMsg(t, st, Message{Data: []byte("2")})
	if client.Timeout != 100*time.Millisecond {
		t.Fatal("Open changed the caller's client")
	}
}

func TestSSE_handshakeBound(t *testing.T) {
	for _, tc := range []struct {
		name              string
		handshake, client time.Duration
		hb                Heartbeat
		want              time.Duration
	}{
		{"defaults", 0, 0, Heartbeat{}, 10 * time.Second},
		{"heartbeat budget", 0, 0, Heartbeat{Interval: time.Second, Timeout: 500 * time.Millisecond}, 1500 * time.Millisecond},
		{"own bound", 3 * time.Second, 0, Heartbeat{}, 3 * time.Second},
		{"own bound over the heartbeat", 3 * time.Second, 0, Heartbeat{Interval: time.Second, Timeout: time.Second}, 3 * time.Second},
		{"no bound", -1, 0, Heartbeat{}, -1},
		{"client Timeout smaller", 0, time.Second, Heartbeat{}, time.Second},
		{"client Timeout larger", 2 * time.Second, time.Minute, Heartbeat{}, 2 * time.Second},
		{"client Timeout only", -1, time.Second, Heartbeat{}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, got := sseHTTPClient(&http.Client{Timeout: tc.client}, connectTimeout(tc.handshake, tc.hb))
			if got != tc.want || c.Timeout != 0 || c.CheckRedirect == nil {
				t.Fatalf("bound %v, client Timeout %v, CheckRedirect set %v; want %v, 0, true",
					got, c.Timeout, c.CheckRedirect != nil, tc.want)
			}
		})
	}
}

func TestSSE_Open_handshakeTimeout(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	for _, tc := range []struct {
		name   string
		tr     *SSE
		client *http.Client
	}{
		{"HandshakeTimeout", &SSE{URL: srv.URL, HandshakeTimeout: 100 * time.Millisecond}, nil},
		{"client Timeout", &SSE{URL: srv.URL}, &http.Client{Timeout: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			st, err := tc.tr.Open(t.Context(), Request{HTTPClient: tc.client})
			if st != nil {
				st.Close()
			}
			wantErr(t, err, Transient, context.DeadlineExceeded)
			if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
				t.Fatalf("Open gave up after %v, want about 100ms", d)
			}
		})
	}
}

// readSignal is a RoundTripper whose response bodies close reading, once
// armed, at the start of the next Read: the test then knows that a Next is
// waiting for bytes.
type readSignal struct {
	armed   atomic.Bool
	once    sync.Once
	reading chan struct{}
}

func (rs *readSignal) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = signalBody{resp.Body, rs}
	}
	return resp, err
}

type signalBody struct {
	io.ReadCloser
	rs *readSignal
}

func (b signalBody) Read(p []byte) (int, error) {
	if b.rs.armed.Load() {
		b.rs.once.Do(func() { close(b.rs.reading) })
	}
	return b.ReadCloser.Read(p)
}

func TestSSE_Close(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler("data: 1\n\n")(w, r)
		<-r.Context().Done()
	})
	rs := &readSignal{reading: make(chan struct{})}
	st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: &http.Client{Transport: rs}})
	wantMsg(t, st, Message{Data: []byte("1")})
	rs.armed.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, err := nextMsg(t, st)
		errc <- err
	}()
	<-rs.reading // Next is waiting on the silent server
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, <-errc, Transient, net.ErrClosed)
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := nextMsg(t, st)
	wantErr(t, err, Transient, net.ErrClosed)
}

func TestSSE_Next_contextEnds(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler()(w, r)
		<-r.Context().Done()
	})
	st := openSSE(t, &SSE{URL: srv.URL}, Request{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := st.Next(ctx)
	wantErr(t, err, Transient, context.DeadlineExceeded)
}

func TestSSE_Open_query(t *testing.T) {
	got := make(chan url.Values, 1)
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
		streamHandler()(w, r)
	})
	q := url.Values{"token": {"new"}, "extra": {"x", "y"}}
	openSSE(t, &SSE{URL: srv.URL + "/events?token=old&token=older&topic=a"}, Request{Query: q, Cursor: "5"})
	want := url.Values{"token": {"new"}, "extra": {"x", "y"}, "topic": {"a"}}
	if h := <-got; h.Encode() != want.Encode() {
		t.Fatalf("query %v, want %v (the cursor travels as Last-Event-ID)", h, want)
	}
}
