package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamServer answers every GET with the parts of body, flushing after
// each, and then holds the response open until the request ends (or ends
// it at once when close is set). It records each request.
type streamServer struct {
	mu       sync.Mutex
	requests []*http.Request
	posts    []string
	status   func(r *http.Request) int // nil: 200
	parts    func(r *http.Request) []string
	close    bool
}

func (s *streamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(context.Background()))
	s.mu.Unlock()
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, r.Proto+" "+string(b))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.status != nil {
		if code := s.status(r); code != http.StatusOK {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(code)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for _, p := range s.parts(r) {
		if _, err := io.WriteString(w, p); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
	if !s.close {
		<-r.Context().Done()
	}
}

func (s *streamServer) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

func (s *streamServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func fixedParts(parts ...string) func(*http.Request) []string {
	return func(*http.Request) []string { return parts }
}

// openStream opens h against the test's context, and closes the stream at
// the end of the test.
func openStream(t *testing.T, h *HTTPStream, req Request) Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s, err := h.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nextN reads n messages.
func nextN(t *testing.T, s Stream, n int) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Message
	for range n {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, m)
	}
	return out
}

func render(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		if m.Gap {
			b.WriteString("{gap}")
			continue
		}
		fmt.Fprintf(&b, "{%s|%s|%s}", m.ID, m.Event, m.Data)
	}
	return b.String()
}

func TestHTTPStream_values(t *testing.T) {
	tests := []struct {
		name    string
		format  StreamFormat
		decoder Decoder
		parts   []string
		want    string
	}{
		{"concatenated envelopes", FormatAuto, nil,
			[]string{`{"id":1,"data":"a"}{"id"`, `:2,"event":"e","data":{"x":1}}`, "\n\n", `[{"id":3,"data":3},{"id":4,"data":4}]`},
			`{1||"a"}{2|e|{"x":1}}{3||3}{4||4}`},
		{"values that are not envelopes are delivered whole", FormatAuto, nil,
			[]string{`{"msg":[{"user":"a","text":"hi"}]}`, ` 42 "s"`, "\n"},
			`{||{"msg":[{"user":"a","text":"hi"}]}}{||42}{||"s"}`},
		{"fields with items", FormatAuto, Fields{Items: "msg"}.Decoder(),
			[]string{`{"msg":[{"user":"a","text":"hi"},{"user":"b","text":"yo"}]}`, `{"msg":[{"id":"9","user":"c"}]}`},
			`{||{"user":"a","text":"hi"}}{||{"user":"b","text":"yo"}}{9||{"id":"9","user":"c"}}`},
		{"ndjson line the decoder fails on", FormatNDJSON, Fields{ID: "seq"}.Decoder(),
			[]string{"{\"seq\":1,\"id\":\"doc\"}\n", "not json\n", "\n", "{\"seq\":2}\n"},
			`{1||{"seq":1,"id":"doc"}}{||not json}{2||{"seq":2}}`},
		{"json-seq", FormatJSONSeq, nil,
			[]string{"\x1e{\"id\":\"a\",\"data\":1}\n", "\x1e{\"id\":\"b\",\"data\":2}\n"},
			`{a||1}{b||2}`},
		{"a decoder's gap marker", FormatAuto,
			func(b []byte) ([]Message, error) {
				if strings.Contains(string(b), `"ERROR"`) {
					return []Message{{Gap: true}}, nil
				}
				return Fields{ID: "rv"}.Decoder()(b)
			},
			[]string{`{"type":"ERROR","code":410}`, `{"rv":"7"}`},
			`{gap}{7||{"rv":"7"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&streamServer{parts: fixedParts(tt.parts...)})
			t.Cleanup(srv.Close)
			s := openStream(t, &HTTPStream{URL: srv.URL, Format: tt.format}, Request{Decoder: tt.decoder})
			got := render(nextN(t, s, countMessages(tt.want)))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// countMessages counts the messages a rendering shows: its top-level braces.
func countMessages(r string) int {
	n, depth := 0, 0
	for _, c := range r {
		switch c {
		case '{':
			if depth == 0 {
				n++
			}
			depth++
		case '}':
			depth--
		}
	}
	return n
}

func TestHTTPStream_cursor(t *testing.T) {
	tests := []struct {
		name, url, param, cursor, wantQuery string
	}{
		{"no cursor keeps the URL", "/feed?feed=continuous&since=now", "", "", "feed=continuous&since=now"},
		{"cursor replaces the URL's", "/feed?feed=continuous&since=now", "", "5-g1A", "feed=continuous&since=5-g1A"},
		{"named parameter", "/pods?watch=1", "resourceVersion", "10245", "resourceVersion=10245&watch=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := &streamServer{parts: fixedParts(`{"id":"x"}`)}
			srv := httptest.NewServer(ss)
			t.Cleanup(srv.Close)
			s := openStream(t, &HTTPStream{URL: srv.URL + tt.url, CursorParam: tt.param},
				Request{Cursor: tt.cursor, Header: http.Header{"X-Token": {"t"}}})
			nextN(t, s, 1)
			r := ss.request(0)
			if r.URL.RawQuery != tt.wantQuery {
				t.Fatalf("query %q, want %q", r.URL.RawQuery, tt.wantQuery)
			}
			if r.Header.Get("X-Token") != "t" || !strings.Contains(r.Header.Get("Accept"), "application/x-ndjson") {
				t.Fatalf("headers %v", r.Header)
			}
		})
	}
}

// TestHTTPStream_goneCursor: a 410 to a request with a cursor is a gap: the
// stream goes on from the server's current position, after a gap marker.
// Without a cursor, 410 is the end of the stream.
func TestHTTPStream_goneCursor(t *testing.T) {
	ss := &streamServer{
		status: func(r *http.Request) int {
			if r.URL.Query().Has("since") {
				return http.StatusGone
			}
			return http.StatusOK
		},
		parts: fixedParts(`{"id":"100","data":"now"}`),
	}
	srv := httptest.NewServer(ss)
	t.Cleanup(srv.Close)
	s := openStream(t, &HTTPStream{URL: srv.URL}, Request{Cursor: "3"})
	if got := render(nextN(t, s, 2)); got != `{gap}{100||"now"}` {
		t.Fatalf("got %s", got)
	}
	if ss.count() != 2 || ss.request(1).URL.RawQuery != "" {
		t.Fatalf("%d requests, the second with query %q", ss.count(), ss.request(1).URL.RawQuery)
	}

	ss.status = func(*http.Request) int { return http.StatusGone }
	_, err := (&HTTPStream{URL: srv.URL}).Open(context.Background(), Request{})
	if ClassOf(err) != EndOfStream {
		t.Fatalf("410 without a cursor: %v, want the end of the stream", err)
	}
	_, err = (&HTTPStream{URL: srv.URL}).Open(context.Background(), Request{Cursor: "3"})
	if ClassOf(err) != EndOfStream {
		t.Fatalf("410 again without the cursor: %v, want the end of the stream", err)
	}
}

func TestHTTPStream_statuses(t *testing.T) {
	tests := []struct {
		code  int
		class Class
	}{
		{http.StatusNoContent, EndOfStream},
		{http.StatusNotFound, Unsupported},
		{http.StatusUnauthorized, Permanent},
		{http.StatusServiceUnavailable, Transient},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			srv := httptest.NewServer(&streamServer{status: func(*http.Request) int { return tt.code }})
			t.Cleanup(srv.Close)
			_, err := (&HTTPStream{URL: srv.URL}).Open(context.Background(), Request{})
			var te *Error
			if !errors.As(err, &te) || te.Class != tt.class || te.Transport != NameStream || te.Op != "open" {
				t.Fatalf("error %v, want class %v", err, tt.class)
			}
			if tt.code == http.StatusServiceUnavailable && te.RetryAfter != 3*time.Second {
				t.Fatalf("RetryAfter %v", te.RetryAfter)
			}
		})
	}
	for _, bad := range []*HTTPStream{{URL: "ftp://x"}, {URL: "http://x", SendURL: "x"}, {URL: "http://x", Format: 9}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
		if _, err := bad.Open(context.Background(), Request{}); ClassOf(err) != Permanent {
			t.Errorf("%+v: Open %v, want a permanent error", bad, err)
		}
	}
}

// TestHTTPStream_end: a body that ends between values, or in the middle of
// one, ends the stream with a transient error after the values before it.
func TestHTTPStream_end(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		cause      error
	}{
		{"between values", `{"id":1}` + "\n", errStreamServerClosed},
		{"mid-value", `{"id":1}{"id":2,"da`, errTruncated},
		{"malformed", `{"id":1} <html>`, ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&streamServer{parts: fixedParts(tt.body), close: true})
			t.Cleanup(srv.Close)
			s := openStream(t, &HTTPStream{URL: srv.URL}, Request{})
			nextN(t, s, 1)
			_, err := s.Next(context.Background())
			if ClassOf(err) != Transient || !errors.Is(err, tt.cause) || errors.Is(err, io.EOF) {
				t.Fatalf("error %v, want a transient one wrapping %v", err, tt.cause)
			}
			if _, again := s.Next(context.Background()); again != err {
				t.Fatalf("a second Next returned %v", again)
			}
		})
	}
}

// TestHTTPStream_tooLarge: a value over the limit ends the stream with a
// *TooLargeError carrying its id, after the values before it.
func TestHTTPStream_tooLarge(t *testing.T) {
	big := `{"id":"2","data":"` + strings.Repeat("x", 3<<20) + `"}`
	for _, tt := range []struct {
		name    string
		limit   int64
		decoder Decoder
		wantID  string
	}{
		{"cut, envelope id before the cut", 0, nil, "2"},
		{"cut, custom decoder", 0, Fields{}.Decoder(), ""},
		{"whole value in the buffer", 4 << 20, Fields{}.Decoder(), "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"id":"1"}` + "\n" + big + "\n" + `{"id":"3"}`
			if tt.limit > 0 {
				// Only the size check of a whole value can catch it.
				body = `{"id":"1"}` + "\n" + big[:100] + `"}` + "\n"
			}
			srv := httptest.NewServer(&streamServer{parts: fixedParts(body)})
			t.Cleanup(srv.Close)
			limit := tt.limit
			if limit > 0 {
				limit = 50
			}
			s := openStream(t, &HTTPStream{URL: srv.URL}, Request{Decoder: tt.decoder, MaxMessageSize: limit})
			nextN(t, s, 1)
			_, err := s.Next(context.Background())
			var tl *TooLargeError
			if !errors.As(err, &tl) || ClassOf(err) != Transient {
				t.Fatalf("error %v, want a transient *TooLargeError", err)
			}
			if tl.ID != tt.wantID {
				t.Fatalf("id %q, want %q", tl.ID, tt.wantID)
			}
		})
	}
}

// TestHTTPStream_liveness: whitespace between values keeps a stream alive;
// silence ends it with a *SilenceError.
func TestHTTPStream_liveness(t *testing.T) {
	beats := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("mode") == "beats" {
			// Newlines for three budgets, every tenth of one, then a value.
			tick := time.NewTicker(30 * time.Millisecond)
			defer tick.Stop()
			for range 30 {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "\n")
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, `{"id":"alive"}`)
			w.(http.Flusher).Flush()
			close(beats)
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	hb := Heartbeat{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond}

	s := openStream(t, &HTTPStream{URL: srv.URL + "?mode=beats"}, Request{Heartbeat: hb})
	if m := nextN(t, s, 1); m[0].ID != "alive" {
		t.Fatalf("got %s", render(m))
	}
	<-beats

	s = openStream(t, &HTTPStream{URL: srv.URL + "?mode=silent"}, Request{Heartbeat: hb})
	start := time.Now()
	_, err := s.Next(context.Background())
	var silence *SilenceError
	if !errors.As(err, &silence) || !errors.Is(err, ErrStalled) || ClassOf(err) != Transient {
		t.Fatalf("error %v, want a transient *SilenceError", err)
	}
	if silence.Idle != 300*time.Millisecond || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("stalled after %v with Idle %v", time.Since(start), silence.Idle)
	}
}

// TestHTTPStream_close: Close unblocks a pending Next, which reports
// net.ErrClosed; cancelling Next's context ends the stream too.
func TestHTTPStream_close(t *testing.T) {
	srv := httptest.NewServer(&streamServer{parts: fixedParts()})
	t.Cleanup(srv.Close)
	s := openStream(t, &HTTPStream{URL: srv.URL}, Request{})
	done := make(chan error)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	// Close may come before or after Next starts: either way Next returns.
	s.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	s.Close()

	s = openStream(t, &HTTPStream{URL: srv.URL}, Request{})
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
}

// TestHTTPStream_send: Send POSTs to SendURL while the stream is open,
// and fails once it is closed.
func TestHTTPStream_send(t *testing.T) {
	ss := &streamServer{parts: fixedParts(`{"id":1}`)}
	srv := httptest.NewServer(ss)
	t.Cleanup(srv.Close)
	s := openStream(t, &HTTPStream{URL: srv.URL + "/stream", SendURL: srv.URL + "/in"}, Request{})
	nextN(t, s, 1)
	if err := s.(Sender).Send(context.Background(), []byte(`{"text":"hi"}`), "k1"); err != nil {
		t.Fatal(err)
	}
	post := ss.request(1)
	if post.URL.Path != "/in" || post.Header.Get("Idempotency-Key") != "k1" || post.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST %s %v", post.URL, post.Header)
	}
	s.Close()
	if err := s.(Sender).Send(context.Background(), []byte("x"), ""); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}
