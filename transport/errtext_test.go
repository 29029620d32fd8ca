package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// textServer serves h on a test server and returns its URL.
func textServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// textStatus answers every request with code.
func textStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// textOpenErr opens tr, which must fail, and returns why.
func textOpenErr(t *testing.T, tr Transport, req Request) error {
	t.Helper()
	st, err := tr.Open(wsTestCtx(t), req)
	if err == nil {
		st.Close()
		t.Fatal("Open succeeded")
	}
	return err
}

// textNextErr opens tr and returns the error that ends its stream.
func textNextErr(t *testing.T, tr Transport, req Request) error {
	t.Helper()
	st, err := tr.Open(wsTestCtx(t), req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	for {
		if _, err := st.Next(wsTestCtx(t)); err != nil {
			return err
		}
	}
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Each error is one plain sentence: the transport, what happened, and the
// status or the cause, with rounded durations; the typed errors stay
// reachable with errors.Is and errors.As. The text is API: these are exact.
func TestErrorText(t *testing.T) {
	hb := Heartbeat{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}
	tests := []struct {
		name string
		// make returns the error and the text it must have.
		make func(t *testing.T) (string, error)
		is   []error // errors.Is must hold for each
		not  []error // and fail for each
		as   func(error) bool
	}{
		{
			name: "sse stalled",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, func(w http.ResponseWriter, r *http.Request) {
					streamHandler()(w, r)
					<-r.Context().Done()
				})
				return "sse: connection stalled: no bytes for 200ms", textNextErr(t, &SSE{URL: u}, Request{Heartbeat: hb})
			},
			is:  []error{ErrStalled, ErrTransient},
			not: []error{io.EOF},
			as:  func(err error) bool { var s *SilenceError; return errors.As(err, &s) },
		},
		{
			name: "sse closed by the server",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, streamHandler("data: a\n\n"))
				return "sse: server closed the event stream", textNextErr(t, &SSE{URL: u}, Request{})
			},
			is:  []error{ErrTransient},
			not: []error{io.EOF},
		},
		{
			name: "sse 204",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, textStatus(http.StatusNoContent))
				return "sse: server answered 204 No Content: no more events", textOpenErr(t, &SSE{URL: u}, Request{})
			},
			is: []error{io.EOF},
		},
		{
			name: "sse 400",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, textStatus(http.StatusBadRequest))
				return "sse: server answered 400 Bad Request", textOpenErr(t, &SSE{URL: u}, Request{})
			},
			is: []error{ErrPermanent},
		},
		{
			name: "sse not an event stream",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					_, _ = io.WriteString(w, "<html>")
				})
				return `sse: server answered 200 OK with content type "text/html", not text/event-stream`, textOpenErr(t, &SSE{URL: u}, Request{})
			},
			is: []error{ErrBadContentType, ErrUnsupported},
		},
		{
			name: "sse no headers in time",
			make: func(t *testing.T) (string, error) {
				u := "http://" + blackHole(t) + "/sse"
				return "sse: no response headers within 150ms", textOpenErr(t, &SSE{URL: u, HandshakeTimeout: 150 * time.Millisecond}, Request{})
			},
			is: []error{context.DeadlineExceeded, ErrTransient},
		},
		{
			name: "sse connection refused",
			make: func(t *testing.T) (string, error) {
				addr := refusedAddr(t)
				return `sse: Get "http://` + addr + `/sse": dial tcp ` + addr + `: connect: connection refused`, textOpenErr(t, &SSE{URL: "http://" + addr + "/sse"}, Request{})
			},
			is: []error{ErrTransient},
			as: func(err error) bool { var ue *url.Error; return errors.As(err, &ue) },
		},
		{
			name: "sse redirect loop",
			make: func(t *testing.T) (string, error) {
				var u string
				u = textServer(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, u+"/again", http.StatusFound)
				})
				return `sse: Get "` + u + `/again": too many redirects: stopped after 10`, textOpenErr(t, &SSE{URL: u}, Request{})
			},
			is: []error{ErrTooManyRedirects, ErrPermanent},
		},
		{
			name: "longpoll 503",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, textStatus(http.StatusServiceUnavailable))
				return "longpoll: server answered 503 Service Unavailable", textOpenErr(t, &LongPoll{URL: u}, Request{})
			},
			is: []error{ErrTransient},
		},
		{
			name: "poll 410",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, textStatus(http.StatusGone))
				return "poll: server answered 410 Gone", textOpenErr(t, &Poll{URL: u}, Request{})
			},
			is: []error{io.EOF},
		},
		{
			name: "poll stalled",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
				return "poll: connection stalled: no complete response within 200ms", textOpenErr(t, &Poll{URL: u}, Request{Heartbeat: hb})
			},
			is: []error{ErrStalled, ErrTransient},
		},
		{
			name: "poll malformed",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `"nope"`) })
				return "poll: malformed response: body is neither a JSON array nor an object", textOpenErr(t, &Poll{URL: u}, Request{})
			},
			is: []error{ErrMalformed, ErrTransient},
		},
		{
			name: "poll send refused",
			make: func(t *testing.T) (string, error) {
				ss := newSendServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
				st, err := (&Poll{URL: ss.URL, Interval: time.Millisecond}).Open(wsTestCtx(t), Request{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return "poll: server answered 403 Forbidden", st.(Sender).Send(wsTestCtx(t), []byte("x"), "")
			},
			is: []error{ErrPermanent},
		},
		{
			name: "websocket dropped",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(_ context.Context, c *websocket.Conn, _ *http.Request) { c.CloseNow() })
				return "websocket: connection closed by the server (status 1006)", textNextErr(t, &WebSocket{URL: u}, Request{})
			},
			is:  []error{io.ErrUnexpectedEOF, ErrTransient},
			not: []error{io.EOF},
		},
		{
			name: "websocket closed with a reason",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(_ context.Context, c *websocket.Conn, _ *http.Request) {
					c.Close(websocket.StatusGoingAway, "bye")
				})
				return `websocket: connection closed by the server (status 1001, reason "bye")`, textNextErr(t, &WebSocket{URL: u}, Request{})
			},
			is:  []error{ErrTransient},
			not: []error{io.EOF},
			as:  func(err error) bool { var ce websocket.CloseError; return errors.As(err, &ce) && ce.Code == 1001 },
		},
		{
			name: "websocket ended",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(_ context.Context, c *websocket.Conn, _ *http.Request) {
					c.Close(websocket.StatusNormalClosure, "")
				})
				return "websocket: server ended the stream (status 1000)", textNextErr(t, &WebSocket{URL: u}, Request{})
			},
			is: []error{io.EOF},
		},
		{
			name: "websocket upgrade refused",
			make: func(t *testing.T) (string, error) {
				u := textServer(t, textStatus(http.StatusForbidden))
				return "websocket: server answered 403 Forbidden", textOpenErr(t, &WebSocket{URL: wsTarget(u)}, Request{})
			},
			is: []error{ErrUnsupported},
		},
		{
			name: "websocket no answer in time",
			make: func(t *testing.T) (string, error) {
				u := "ws://" + blackHole(t) + "/ws"
				return "websocket: no answer to the handshake within 150ms", textOpenErr(t, &WebSocket{URL: u, HandshakeTimeout: 150 * time.Millisecond}, Request{})
			},
			is: []error{context.DeadlineExceeded, ErrTransient},
		},
		{
			name: "websocket stalled",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(ctx context.Context, _ *websocket.Conn, _ *http.Request) { <-ctx.Done() })
				return "websocket: connection stalled: no pong within 100ms", textNextErr(t, &WebSocket{URL: u}, Request{Heartbeat: hb})
			},
			is: []error{ErrStalled, ErrTransient},
		},
		{
			name: "websocket frame too large",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
					wsWrite(t, ctx, c, websocket.MessageText, `{"data":"0123456789012345678901234567890123456789"}`)
					<-ctx.Done()
				})
				return "websocket: message too large: frame of 17 bytes or more, limit 16", textNextErr(t, &WebSocket{URL: u}, Request{MaxMessageSize: 16})
			},
			is: []error{ErrMessageTooLarge, ErrTransient},
		},
		{
			name: "websocket closed here",
			make: func(t *testing.T) (string, error) {
				u := newWSServer(t, nil, func(ctx context.Context, _ *websocket.Conn, _ *http.Request) { <-ctx.Done() })
				st := wsOpen(t, &WebSocket{URL: u}, Request{})
				st.Close()
				_, err := st.Next(wsTestCtx(t))
				return "websocket: stream closed", err
			},
			is: []error{net.ErrClosed, ErrTransient},
		},
		{
			name: "a cause of the caller's, with a close code",
			make: func(*testing.T) (string, error) {
				return "websocket: banned (status 4001)", &Error{Transport: NameWebSocket, Op: "read", Class: Permanent, StatusCode: 4001, Err: errors.New("banned")}
			},
			is: []error{ErrPermanent},
		},
		{
			name: "no cause",
			make: func(*testing.T) (string, error) {
				return "sse: transient failure", &Error{Transport: NameSSE, Op: "open", Class: Transient}
			},
			is: []error{ErrTransient},
		},
		{
			name: "silence rounded under 10s",
			make: func(*testing.T) (string, error) {
				return "sse: connection stalled: no bytes for 1.667s", &Error{Transport: NameSSE, Op: "read", Class: Transient, Err: &SilenceError{Idle: 1666666666}}
			},
			is: []error{ErrStalled},
		},
		{
			name: "silence rounded above 10s",
			make: func(*testing.T) (string, error) {
				return "sse: connection stalled: no bytes for 25s", &Error{Transport: NameSSE, Op: "read", Class: Transient, Err: &SilenceError{Idle: 25*time.Second + 40*time.Millisecond}}
			},
			is: []error{ErrStalled},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.make(t)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != want {
				t.Errorf("text\n got %q\nwant %q", got, want)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Errorf("%T is not a *Error", err)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("%q does not match %v", err, target)
				}
			}
			for _, target := range tc.not {
				if errors.Is(err, target) {
					t.Errorf("%q matches %v", err, target)
				}
			}
			if tc.as != nil && !tc.as(err) {
				t.Errorf("%q lost its typed cause", err)
			}
		})
	}
}

func TestRoundDuration(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{1435602262, 1436 * time.Millisecond},
		{666666666, 667 * time.Millisecond},
		{9999400 * time.Microsecond, 9999 * time.Millisecond},
		{12345 * time.Millisecond, 12300 * time.Millisecond},
		{25*time.Second + 40*time.Millisecond, 25 * time.Second},
		{1234567, time.Millisecond},
		{1234, time.Microsecond},
		{0, 0},
	} {
		if got := roundDuration(tc.in); got != tc.want {
			t.Errorf("roundDuration(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
