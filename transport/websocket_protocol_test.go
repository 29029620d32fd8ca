package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsReadText reads one frame on the server side, failing the test on error.
func wsReadText(t *testing.T, ctx context.Context, c *websocket.Conn) string {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Errorf("server read: %v", err)
		return ""
	}
	return string(b)
}

// pongControl treats frames with a "pong" or "ack" field as control frames,
// and a frame {"refuse": ...} as a refusal.
func pongControl(frame []byte) (FrameKind, error) {
	switch {
	case bytes.Contains(frame, []byte(`"pong"`)):
		return FrameReply, nil
	case bytes.Contains(frame, []byte(`"ack"`)):
		return FrameAck, nil
	case bytes.Contains(frame, []byte(`"refuse"`)):
		return 0, errors.New("subscription refused")
	case bytes.Contains(frame, []byte(`"later"`)):
		return 0, &Error{Class: Transient, Err: errors.New("try later")}
	}
	return FrameMessage, nil
}

func TestWebSocket_Hello_sentBeforeReading(t *testing.T) {
	got := make(chan []string, 1)
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		// The client reads nothing before it has sent both frames: the
		// server answers only once it has them.
		a, b := wsReadText(t, ctx, c), wsReadText(t, ctx, c)
		got <- []string{a, b}
		wsWrite(t, ctx, c, websocket.MessageText, `{"id":"8","data":1}`)
		wsDrain(ctx, c)
	})
	w := &WebSocket{URL: u, Hello: func(cursor string) ([][]byte, error) {
		return [][]byte{
			[]byte(`{"type":"login","user":7}`),
			[]byte(fmt.Sprintf(`{"type":"subscribe","since":%q}`, cursor)),
		}, nil
	}}
	s := wsOpen(t, w, Request{Cursor: "7"})
	m, err := s.Next(wsTestCtx(t))
	if err != nil || m.ID != "8" {
		t.Fatalf("Next = %+v, %v", m, err)
	}
	frames := <-got
	want := []string{`{"type":"login","user":7}`, `{"type":"subscribe","since":"7"}`}
	if frames[0] != want[0] || frames[1] != want[1] {
		t.Fatalf("server got %q, want %q", frames, want)
	}
}

func TestWebSocket_Hello_errorIsPermanent(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
	w := &WebSocket{URL: u, Hello: func(string) ([][]byte, error) { return nil, errors.New("no user") }}
	_, err := w.Open(wsTestCtx(t), Request{})
	wsErr(t, err, "open", Permanent)
}

func TestWebSocket_Control_repliesNotDelivered(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, `{"pong":1}`, `{"id":"1","data":"a"}`, `{"ack":true}`, `{"id":"2","data":"b"}`)
		wsDrain(ctx, c)
	})
	s := wsOpen(t, &WebSocket{URL: u, Control: pongControl}, Request{})
	ctx := wsTestCtx(t)
	for _, want := range []string{"1", "2"} {
		m, err := s.Next(ctx)
		if err != nil || m.ID != want {
			t.Fatalf("Next = %+v, %v; want id %s", m, err, want)
		}
	}
}

func TestWebSocket_Control_errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame string
		class Class
	}{
		{"refusal is permanent", `{"refuse":"no"}`, Permanent},
		{"a *Error keeps its class", `{"later":1}`, Transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
				wsWrite(t, ctx, c, websocket.MessageText, tc.frame)
				wsDrain(ctx, c)
			})
			s := wsOpen(t, &WebSocket{URL: u, Control: pongControl}, Request{})
			_, err := s.Next(wsTestCtx(t))
			wsErr(t, err, "read", tc.class)
		})
	}
}

func TestWebSocket_ConfirmTimeout(t *testing.T) {
	t.Run("messages before the ack are kept", func(t *testing.T) {
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			wsReadText(t, ctx, c)
			wsWrite(t, ctx, c, websocket.MessageText, `{"id":"1","data":"a"}`, `{"ack":true}`, `{"id":"2","data":"b"}`)
			wsDrain(ctx, c)
		})
		w := &WebSocket{URL: u, Control: pongControl, ConfirmTimeout: 5 * time.Second,
			Hello: func(string) ([][]byte, error) { return [][]byte{[]byte("sub")}, nil }}
		s := wsOpen(t, w, Request{})
		for _, want := range []string{"1", "2"} {
			m, err := s.Next(wsTestCtx(t))
			if err != nil || m.ID != want {
				t.Fatalf("Next = %+v, %v; want id %s", m, err, want)
			}
		}
	})
	t.Run("no ack in time is transient", func(t *testing.T) {
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
		w := &WebSocket{URL: u, Control: pongControl, ConfirmTimeout: 50 * time.Millisecond}
		_, err := w.Open(wsTestCtx(t), Request{})
		te := wsErr(t, err, "open", Transient)
		if !errors.Is(te, errNoAck) {
			t.Fatalf("%v does not say the confirmation is missing", err)
		}
	})
	t.Run("a refusal instead of the ack is permanent", func(t *testing.T) {
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			wsWrite(t, ctx, c, websocket.MessageText, `{"refuse":"bad channel"}`)
			wsDrain(ctx, c)
		})
		w := &WebSocket{URL: u, Control: pongControl, ConfirmTimeout: 5 * time.Second}
		_, err := w.Open(wsTestCtx(t), Request{})
		wsErr(t, err, "open", Permanent)
	})
}

func TestWebSocket_AppPing(t *testing.T) {
	hb := Heartbeat{Interval: 30 * time.Millisecond, Timeout: 60 * time.Millisecond}
	ping := func(n int) []byte { return []byte(fmt.Sprintf(`{"type":"ping","reqid":%d}`, n)) }
	t.Run("answered pings keep a quiet connection alive", func(t *testing.T) {
		var seen atomic.Int32
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			for n := 0; ; n++ {
				got := wsReadText(t, ctx, c)
				if want := string(ping(n)); got != want {
					t.Errorf("server got %q, want %q", got, want)
					return
				}
				if seen.Add(1) == 8 {
					wsWrite(t, ctx, c, websocket.MessageText, `{"id":"1","data":"after pings"}`)
					wsDrain(ctx, c)
					return
				}
				wsWrite(t, ctx, c, websocket.MessageText, fmt.Sprintf(`{"reqid":%d,"result":true,"pong":1}`, n))
			}
		})
		s := wsOpen(t, &WebSocket{URL: u, AppPing: ping, Control: pongControl}, Request{Heartbeat: hb})
		m, err := s.Next(wsTestCtx(t))
		if err != nil || m.ID != "1" {
			t.Fatalf("Next = %+v, %v; want the message after 8 answered pings", m, err)
		}
	})
	t.Run("unanswered pings are a stall", func(t *testing.T) {
		pinged := make(chan struct{}, 100)
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
				pinged <- struct{}{}
			}
		})
		s := wsOpen(t, &WebSocket{URL: u, AppPing: ping}, Request{Heartbeat: hb})
		_, err := s.Next(wsTestCtx(t))
		wsErr(t, err, "read", Transient)
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("%v is not a stall", err)
		}
		if len(pinged) == 0 {
			t.Fatal("the server never got an application ping")
		}
	})
	t.Run("pings go out while data flows", func(t *testing.T) {
		got := make(chan struct{})
		u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
			go func() {
				if wsReadText(t, ctx, c) == string(ping(0)) {
					close(got)
				}
			}()
			for i := 1; ctx.Err() == nil; i++ {
				if c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"id":"%d"}`, i)) != nil {
					return
				}
				select {
				case <-got:
					wsWrite(t, ctx, c, websocket.MessageText, `{"id":"done"}`)
					<-ctx.Done()
					return
				case <-time.After(5 * time.Millisecond): // the pace of a busy feed
				}
			}
		})
		s := wsOpen(t, &WebSocket{URL: u, AppPing: ping}, Request{Heartbeat: Heartbeat{Interval: 30 * time.Millisecond, Timeout: 10 * time.Second}})
		for {
			m, err := s.Next(wsTestCtx(t))
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if m.ID == "done" {
				return
			}
		}
	})
}

func TestWebSocket_Send(t *testing.T) {
	got := make(chan string, 2)
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			got <- fmt.Sprintf("%v %s", typ, b)
		}
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{})
	ctx := wsTestCtx(t)
	if err := s.Send(ctx, []byte("hello"), "k1"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := s.Send(ctx, []byte{0xff, 0}, ""); err != nil {
		t.Fatalf("Send binary: %v", err)
	}
	for _, want := range []string{"MessageText hello", "MessageBinary \xff\x00"} {
		if g := <-got; g != want {
			t.Fatalf("server got %q, want %q", g, want)
		}
	}
	_ = s.Close()
	err := s.Send(ctx, []byte("late"), "")
	te := wsErr(t, err, "send", Transient)
	if !errors.Is(te, net.ErrClosed) {
		t.Fatalf("Send after Close = %v, want net.ErrClosed", err)
	}
}

func TestWebSocket_Decoder(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, `{"u":1042,"x":1}`, `not json`)
		wsDrain(ctx, c)
	})
	dec := func(b []byte) ([]Message, error) {
		if !bytes.HasPrefix(b, []byte(`{"u":`)) {
			return nil, ErrMalformed
		}
		id, _, _ := strings.Cut(string(b[5:]), ",")
		return []Message{{ID: id, Data: bytes.Clone(b)}}, nil
	}
	s := wsOpen(t, &WebSocket{URL: u}, Request{Decoder: dec})
	ctx := wsTestCtx(t)
	if m, err := s.Next(ctx); err != nil || m.ID != "1042" {
		t.Fatalf("Next = %+v, %v; want id 1042 from the decoder", m, err)
	}
	if m, err := s.Next(ctx); err != nil || m.ID != "" || string(m.Data) != "not json" {
		t.Fatalf("Next = %+v, %v; want the undecodable frame whole", m, err)
	}
}

func TestWebSocket_Query(t *testing.T) {
	got := make(chan url.Values, 1)
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		got <- r.URL.Query()
		wsDrain(ctx, c)
	})
	wsOpen(t, &WebSocket{URL: u + "?token=old&x=1"}, Request{Cursor: "5", Query: url.Values{"token": {"new"}}})
	q := <-got
	if q.Get("token") != "new" || q.Get("x") != "1" || q.Get("since") != "5" {
		t.Fatalf("handshake query %v", q)
	}

	// A failed handshake's error never shows the secret.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = (&WebSocket{URL: "ws://" + addr + "/ws"}).Open(wsTestCtx(t), Request{Query: url.Values{"token": {"s3cr/et"}}})
	if err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Fatalf("error %v shows the token", err)
	}
}

func TestWebSocket_CloseClass(t *testing.T) {
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		c.Close(3501, "do not reconnect")
	})
	w := &WebSocket{URL: u, CloseClass: func(code int) Class {
		if code >= 3500 && code < 4000 {
			return Permanent
		}
		return 0
	}}
	s := wsOpen(t, w, Request{})
	_, err := s.Next(wsTestCtx(t))
	if te := wsErr(t, err, "read", Permanent); te.StatusCode != 3501 {
		t.Fatalf("status %d, want 3501", te.StatusCode)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   Validator
		ok   bool
	}{
		{"ws", &WebSocket{URL: "ws://h/ws"}, true},
		{"ws over https", &WebSocket{URL: "https://h/ws"}, true},
		{"ws bad scheme", &WebSocket{URL: "htp://h/ws"}, false},
		{"ws no host", &WebSocket{URL: "ws:///ws"}, false},
		{"sse", &SSE{URL: "http://h/sse"}, true},
		{"sse bad scheme", &SSE{URL: "htp://h/sse"}, false},
		{"sse bad send URL", &SSE{URL: "http://h/sse", SendURL: "ftp://h/x"}, false},
		{"longpoll", &LongPoll{URL: "https://h/long", SendURL: "https://h/send"}, true},
		{"longpoll relative", &LongPoll{URL: "/long"}, false},
		{"poll", &Poll{URL: "http://h/poll"}, true},
		{"poll empty", &Poll{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.tr.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestEnvelopePrefixID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"id":"41","data":"xxxxxxxx`, "41"},
		{`{"event":"e","ID":17,"data":[1,2,`, "17"},
		{` { "id" : "a\"b" , "data"`, `a"b`},
		{`{"data":"xxxxxxxxxxxxxx`, ""},         // id after the cut
		{`{"id":12`, ""},                        // the number may go on
		{`{"id":"4`, ""},                        // cut inside the id
		{`{"id":{"n":1},"data":1`, ""},          // not a string or a number
		{`[{"id":"1","data":"xxxxx`, "1"},       // a batch cut inside its first message
		{`[{"id":"1"},{"id":"2","data":"x`, ""}, // a batch whose first message is whole
		{`not json at all, id 5`, ""},           // not JSON
		{`{"meta":{"id":"9"},"id":"3","d`, "3"}, // only top-level fields count
	} {
		if got := envelopePrefixID([]byte(tc.in)); got != tc.want {
			t.Errorf("envelopePrefixID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWebSocket_tooLargeCarriesTheID(t *testing.T) {
	big := `{"id":"77","data":"` + strings.Repeat("x", 4096) + `"}`
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, big)
		wsDrain(ctx, c)
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{MaxMessageSize: 1024})
	_, err := s.Next(wsTestCtx(t))
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.ID != "77" || !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Next = %v, want a TooLargeError for id 77", err)
	}
}

func TestWebSocket_AppPing_everyIntervalEvenWithALongTimeout(t *testing.T) {
	// Interval 20ms, Timeout 10s: pings must still go out every 20ms, not
	// every 10s. The server counts them and says so once it has 5.
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		for n := 0; n < 5; n++ {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
		wsWrite(t, ctx, c, websocket.MessageText, `{"id":"5 pings"}`)
		wsDrain(ctx, c)
	})
	hb := Heartbeat{Interval: 20 * time.Millisecond, Timeout: 10 * time.Second}
	s := wsOpen(t, &WebSocket{URL: u, AppPing: func(n int) []byte { return []byte("ping") }}, Request{Heartbeat: hb})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil || m.ID != "5 pings" {
		t.Fatalf("Next = %+v, %v: pings did not come every Interval", m, err)
	}
}
