package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsServeFunc runs one accepted connection of a test server. ctx ends when
// the test is over; the connection is closed (CloseNow) after it returns.
type wsServeFunc func(ctx context.Context, c *websocket.Conn, r *http.Request)

// newWSServer starts a loopback server that upgrades every request and
// hands the connection to serve. It returns the ws:// URL. Cleanup ends the
// handlers and waits for them.
func newWSServer(t *testing.T, opts *websocket.AcceptOptions, serve wsServeFunc) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1) // before the hijack, so srv.Close cannot miss it
		defer handlers.Done()
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(ctx, c, r)
	}))
	t.Cleanup(func() {
		cancel()
		srv.Close()
		handlers.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// wsWrite sends frames in order, failing the test on error.
func wsWrite(t *testing.T, ctx context.Context, c *websocket.Conn, typ websocket.MessageType, frames ...string) {
	for _, f := range frames {
		if err := c.Write(ctx, typ, []byte(f)); err != nil {
			t.Errorf("server write %q: %v", f, err)
			return
		}
	}
}

// wsDrain reads (and so answers pings and the close handshake) until the
// connection ends, and returns the close status seen, or -1.
func wsDrain(ctx context.Context, c *websocket.Conn) websocket.StatusCode {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// wsOpen opens a stream on url with req and closes it at cleanup.
func wsOpen(t *testing.T, w *WebSocket, req Request) *wsStream {
	t.Helper()
	// The stream lives as long as Open's ctx: the test's.
	s, err := w.Open(wsTestCtx(t), req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*wsStream)
}

// testCtx is a context that fails the test instead of hanging it.
func wsTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wsWaitFor polls cond until it holds, failing the test after 10 seconds.
func wsWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// wsErr asserts err is a *Error of class c from the websocket transport.
func wsErr(t *testing.T, err error, op string, c Class) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *Error", err, err)
	}
	if te.Transport != NameWebSocket || te.Op != op || te.Class != c {
		t.Fatalf("error %v: got transport %q op %q class %v, want websocket %s %v", err, te.Transport, te.Op, te.Class, op, c)
	}
	return te
}

func TestWebSocket_Name(t *testing.T) {
	if got := (&WebSocket{}).Name(); got != NameWebSocket {
		t.Fatalf("Name() = %q", got)
	}
}

func TestWebSocket_Next_messagesInOrder(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText,
			`{"id":"1","event":"tick","data":{"n":1}}`,
			`[{"id":2,"data":"two"},{"id":"3","data":[3]}]`,
			`aaaa`)
		wsWrite(t, ctx, c, websocket.MessageBinary, `bbbb`, `{"id":"4","data":null}`)
		c.Close(websocket.StatusNormalClosure, "done")
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{})
	ctx := wsTestCtx(t)

	want := []Message{
		{ID: "1", Event: "tick", Data: []byte(`{"n":1}`)},
		{ID: "2", Data: []byte(`"two"`)},
		{ID: "3", Data: []byte(`[3]`)},
		{Data: []byte("aaaa")},
		{Data: []byte("bbbb")},
		{ID: "4", Data: []byte("null")},
	}
	var got []Message
	for range want {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d messages: %v", len(got), err)
		}
		got = append(got, m)
	}
	// Compared only now: a Message aliasing the reused frame buffer would
	// have been overwritten by the later frames of the same length.
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Event != want[i].Event || string(got[i].Data) != string(want[i].Data) {
			t.Errorf("message %d = {%q %q %s}, want {%q %q %s}", i,
				got[i].ID, got[i].Event, got[i].Data, want[i].ID, want[i].Event, want[i].Data)
		}
	}
	_, err := s.Next(ctx)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("after close 1000: %v, want io.EOF", err)
	}
	wsErr(t, err, "read", EndOfStream)
	if _, again := s.Next(ctx); again != err {
		t.Fatalf("Next after the end = %v, want the same error again", again)
	}
}

func TestWebSocket_Open_handshakeRequest(t *testing.T) {
	tests := []struct {
		name   string
		url    string // appended to the server URL
		param  string
		cursor string
		want   url.Values
	}{
		{name: "no cursor", want: url.Values{}},
		{name: "cursor", cursor: "42", want: url.Values{"since": {"42"}}},
		{name: "cursor kept with query", url: "/feed?room=a%20b", cursor: "x/y",
			want: url.Values{"room": {"a b"}, "since": {"x/y"}}},
		{name: "custom param", param: "after", cursor: "7", want: url.Values{"after": {"7"}}},
		{name: "query without cursor", url: "?room=r", want: url.Values{"room": {"r"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
				seen <- r
				wsDrain(ctx, c)
			})
			hdr := http.Header{"Authorization": {"Bearer t"}}
			wsOpen(t, &WebSocket{URL: u + tt.url, CursorParam: tt.param}, Request{Cursor: tt.cursor, Header: hdr})
			r := <-seen
			if got := r.URL.Query(); got.Encode() != tt.want.Encode() {
				t.Errorf("query = %q, want %q", got.Encode(), tt.want.Encode())
			}
			if got := r.Header.Get("Authorization"); got != "Bearer t" {
				t.Errorf("Authorization = %q, want the request header", got)
			}
		})
	}
}

func TestWebSocket_Open_subprotocol(t *testing.T) {
	u := newWSServer(t, &websocket.AcceptOptions{Subprotocols: []string{"anysub.v1"}},
		func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			wsWrite(t, ctx, c, websocket.MessageText, c.Subprotocol())
			wsDrain(ctx, c)
		})
	s := wsOpen(t, &WebSocket{URL: u, Subprotocols: []string{"anysub.v1"}}, Request{})
	m, err := s.Next(wsTestCtx(t))
	if err != nil || string(m.Data) != "anysub.v1" {
		t.Fatalf("Next = %q, %v; want the server to have chosen anysub.v1", m.Data, err)
	}
}

func TestWebSocket_Open_refused(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		class      Class
		wantRetry  time.Duration
	}{
		{status: http.StatusOK, class: Unsupported},
		{status: http.StatusBadRequest, class: Unsupported},
		{status: http.StatusForbidden, class: Unsupported},
		{status: http.StatusNotFound, class: Unsupported},
		{status: http.StatusUpgradeRequired, class: Unsupported},
		{status: http.StatusUnauthorized, class: Permanent},
		{status: http.StatusProxyAuthRequired, class: Permanent},
		{status: http.StatusRequestTimeout, class: Transient},
		{status: http.StatusTooManyRequests, retryAfter: "3", class: Transient, wantRetry: 3 * time.Second},
		{status: http.StatusServiceUnavailable, retryAfter: "7", class: Transient, wantRetry: 7 * time.Second},
		{status: http.StatusBadGateway, class: Transient},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "not a websocket\n")
			}))
			t.Cleanup(srv.Close)
			s, err := (&WebSocket{URL: srv.URL}).Open(wsTestCtx(t), Request{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			te := wsErr(t, err, "open", tt.class)
			if te.StatusCode != tt.status || te.RetryAfter != tt.wantRetry {
				t.Errorf("status %d retry %v, want %d and %v", te.StatusCode, te.RetryAfter, tt.status, tt.wantRetry)
			}
		})
	}
}

func TestWebSocket_Open_failures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	}))
	t.Cleanup(loop.Close)

	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(hangUp.Close)

	tests := []struct {
		name  string
		url   string
		class Class
		is    error
	}{
		{name: "bad scheme", url: "ftp://example.com/", class: Permanent},
		{name: "no host", url: "ws:///feed", class: Permanent},
		{name: "unparsable", url: "ws://[::1", class: Permanent},
		{name: "connection refused", url: closed.URL, class: Transient},
		{name: "hung up before answering", url: hangUp.URL, class: Transient},
		{name: "untrusted certificate", url: "wss" + strings.TrimPrefix(tlsSrv.URL, "https"), class: Permanent},
		{name: "redirect loop", url: loop.URL, class: Permanent, is: ErrTooManyRedirects},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := (&WebSocket{URL: tt.url}).Open(wsTestCtx(t), Request{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			wsErr(t, err, "open", tt.class)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
			if errors.Is(err, io.EOF) {
				t.Errorf("%v matches io.EOF, which means a clean end", err)
			}
		})
	}
}

func TestWebSocket_Open_handshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// The listener accepts (in the kernel) but nobody ever answers.
	start := time.Now()
	_, err = (&WebSocket{URL: "ws://" + ln.Addr().String(), HandshakeTimeout: 50 * time.Millisecond}).
		Open(wsTestCtx(t), Request{})
	wsErr(t, err, "open", Transient)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v despite a 50ms handshake timeout", d)
	}
}

func TestWebSocket_Next_end(t *testing.T) {
	tests := []struct {
		name   string
		end    func(c *websocket.Conn)
		class  Class
		status int
	}{
		{name: "normal closure", end: func(c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "") },
			class: EndOfStream, status: 1000},
		{name: "internal error", end: func(c *websocket.Conn) { c.Close(websocket.StatusInternalError, "oops") },
			class: Transient, status: 1011},
		{name: "going away", end: func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "") },
			class: Transient, status: 1001},
		{name: "tcp dropped", end: func(c *websocket.Conn) { c.CloseNow() }, class: Transient, status: 1006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
				wsWrite(t, ctx, c, websocket.MessageText, `{"id":"1","data":1}`)
				tt.end(c)
			})
			s := wsOpen(t, &WebSocket{URL: u}, Request{})
			ctx := wsTestCtx(t)
			if m, err := s.Next(ctx); err != nil || m.ID != "1" {
				t.Fatalf("first Next = %+v, %v", m, err)
			}
			_, err := s.Next(ctx)
			te := wsErr(t, err, "read", tt.class)
			if te.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", te.StatusCode, tt.status)
			}
			if got := errors.Is(err, io.EOF); got != (tt.class == EndOfStream) {
				t.Errorf("errors.Is(%v, io.EOF) = %v", err, got)
			}
		})
	}
}

func TestWebSocket_Next_messageSizeLimit(t *testing.T) {
	const limit = 16
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, strings.Repeat("a", limit), strings.Repeat("b", limit+1))
		wsDrain(ctx, c)
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{MaxMessageSize: limit})
	ctx := wsTestCtx(t)
	if m, err := s.Next(ctx); err != nil || len(m.Data) != limit {
		t.Fatalf("a frame of exactly the limit: %q, %v", m.Data, err)
	}
	_, err := s.Next(ctx)
	wsErr(t, err, "read", Transient)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("%v does not wrap ErrMessageTooLarge", err)
	}
}

func TestWebSocket_Next_frameBuffer(t *testing.T) {
	// The frame buffer grows in steps and is reused; it never grows past
	// the limit plus one byte, however large the frame on the wire.
	const limit = 5000
	tests := []struct {
		name string
		size int // of the first frame; a small one follows
	}{
		{name: "empty", size: 0},
		{name: "one read", size: 100},
		{name: "several reads", size: 3000},
		{name: "exactly the limit", size: limit},
		{name: "one byte over", size: limit + 1},
		{name: "far over", size: 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := strings.Repeat("f", tt.size)
			u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
				if tt.size > limit {
					// The client may hang up before the frame is all out.
					_ = c.Write(ctx, websocket.MessageBinary, []byte(first))
				} else {
					wsWrite(t, ctx, c, websocket.MessageBinary, first, "after")
				}
				wsDrain(ctx, c)
			})
			s := wsOpen(t, &WebSocket{URL: u}, Request{MaxMessageSize: limit})
			ctx := wsTestCtx(t)
			m, err := s.Next(ctx)
			if tt.size > limit {
				wsErr(t, err, "read", Transient)
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("%v does not wrap ErrMessageTooLarge", err)
				}
				if c := cap(s.buf); c > limit+1 {
					t.Errorf("frame buffer grew to %d bytes for a limit of %d", c, limit)
				}
				return
			}
			if err != nil || string(m.Data) != first {
				t.Fatalf("first Next = %d bytes, %v; want %d", len(m.Data), err, tt.size)
			}
			if m, err := s.Next(ctx); err != nil || string(m.Data) != "after" {
				t.Fatalf("second Next = %q, %v", m.Data, err)
			}
		})
	}
}

func TestWebSocket_Next_defaultSizeLimit(t *testing.T) {
	// coder/websocket's own default is 32 KiB; the stream must lift it to
	// DefaultMaxMessageSize.
	big := strings.Repeat("x", 100<<10)
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, big)
		wsDrain(ctx, c)
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{})
	if m, err := s.Next(wsTestCtx(t)); err != nil || string(m.Data) != big {
		t.Fatalf("Next = %d bytes, %v; want the 100 KiB frame", len(m.Data), err)
	}
}

func TestWebSocket_Next_ctxEnds(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
	s := wsOpen(t, &WebSocket{URL: u}, Request{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Next(ctx)
	wsErr(t, err, "read", Transient)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
	}
}

func TestWebSocket_Open_ctxEndsStream(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
	octx, cancel := context.WithCancel(context.Background())
	s, err := (&WebSocket{URL: u}).Open(octx, Request{Heartbeat: Heartbeat{Interval: time.Hour, Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ws := s.(*wsStream)
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(wsTestCtx(t))
		done <- err
	}()
	wsWaitFor(t, "Next to block in a read", ws.act.reading)
	cancel()
	err = <-done
	wsErr(t, err, "read", Transient)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not wrap context.Canceled", err)
	}
	if !wsHeartbeatStopped(ws.beat) {
		t.Error("the heartbeat outlived the stream")
	}
}

func TestWebSocket_Close(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat Heartbeat
		idle      bool // no Next pending during Close
		serve     func(ctx context.Context, c *websocket.Conn) websocket.StatusCode
		status    websocket.StatusCode // what the server must see, -1 for nothing
	}{
		{name: "healthy server", serve: wsDrain, status: websocket.StatusNormalClosure},
		{name: "healthy server with heartbeat", heartbeat: Heartbeat{Interval: 20 * time.Millisecond, Timeout: time.Second},
			serve: wsDrain, status: websocket.StatusNormalClosure},
		{name: "healthy server, no Next pending", idle: true, serve: wsDrain, status: websocket.StatusNormalClosure},
		{name: "stalled server", status: -1, serve: wsStall},
		{name: "stalled server, no Next pending", idle: true, status: -1, serve: wsStall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan websocket.StatusCode, 1)
			u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
				seen <- tt.serve(ctx, c)
			})
			s := wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: tt.heartbeat})
			done := make(chan error, 1)
			if tt.idle {
				done <- nil
			} else {
				go func() {
					_, err := s.Next(wsTestCtx(t))
					done <- err
				}()
				wsWaitFor(t, "Next to block in a read", s.act.reading)
			}

			start := time.Now()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d > wsCloseGrace+2*time.Second {
				t.Errorf("Close took %v", d)
			}
			if err := <-done; !tt.idle {
				wsErr(t, err, "read", Transient)
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("pending Next returned %v, want net.ErrClosed", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := s.Next(wsTestCtx(t)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Next after Close = %v, want net.ErrClosed", err)
			}
			if tt.status != -1 {
				if got := <-seen; got != tt.status {
					t.Errorf("server saw close status %v, want %v", got, tt.status)
				}
			}
		})
	}
}

// wsStall accepts and then never reads, so it never answers a ping or the
// close handshake.
func wsStall(ctx context.Context, _ *websocket.Conn) websocket.StatusCode {
	<-ctx.Done()
	return -1
}

func TestWebSocket_clientTimeoutDoesNotCutStream(t *testing.T) {
	const timeout = 100 * time.Millisecond
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, "first")
		// The stream has to outlive the client's Timeout: waiting for time
		// to pass is what is under test here.
		later := time.NewTimer(3 * timeout)
		defer later.Stop()
		select {
		case <-later.C:
		case <-ctx.Done():
			return
		}
		wsWrite(t, ctx, c, websocket.MessageText, "second")
		wsDrain(ctx, c)
	})
	client := &http.Client{Timeout: timeout}
	s := wsOpen(t, &WebSocket{URL: u}, Request{HTTPClient: client})
	ctx := wsTestCtx(t)
	for _, want := range []string{"first", "second"} {
		m, err := s.Next(ctx)
		if err != nil || string(m.Data) != want {
			t.Fatalf("Next = %q, %v; want %q", m.Data, err, want)
		}
	}
	if client.Timeout != timeout {
		t.Errorf("the caller's client was changed: Timeout %v", client.Timeout)
	}
}

// TestWebSocket_Open_refusedConnectionReused checks that the connection of a
// refused handshake serves the plain GET that follows (the next transport of
// the ladder) over plain http, and that the server still sees an upgrade
// request. Over https, and without keep-alives, a second connection is dialled.
func TestWebSocket_Open_refusedConnectionReused(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		noKeep    bool
		wantConns int64
	}{
		{name: "http", wantConns: 1},
		{name: "http without keep-alives", noKeep: true, wantConns: 2},
		{name: "https", tls: true, wantConns: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			upgrade := make(chan bool, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ws" {
					upgrade <- strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Connection"), ",")), "upgrade") &&
						strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
				}
				http.NotFound(w, r)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			if tt.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			hc := srv.Client()
			hc.Transport.(*http.Transport).DisableKeepAlives = tt.noKeep
			t.Cleanup(hc.CloseIdleConnections)

			_, err := (&WebSocket{URL: srv.URL + "/ws"}).Open(wsTestCtx(t), Request{HTTPClient: hc})
			wsErr(t, err, "open", Unsupported)
			if !<-upgrade {
				t.Error("the server did not see Connection: Upgrade and Upgrade: websocket")
			}
			req, _ := http.NewRequestWithContext(wsTestCtx(t), http.MethodGet, srv.URL+"/next", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("%d connections for the refused handshake and the GET, want %d", got, tt.wantConns)
			}
		})
	}
}
