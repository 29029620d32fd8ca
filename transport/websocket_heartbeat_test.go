package transport

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsTestHeartbeat is short enough for tests and long enough for a loaded
// machine to answer a ping on loopback.
var wsTestHeartbeat = Heartbeat{Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond}

func TestWebSocket_heartbeat_stalledServer(t *testing.T) {
	// The server accepts the upgrade and then neither reads nor writes: no
	// pong, no frame, no close.
	u := newWSServer(t, nil, func(ctx context.Context, _ *websocket.Conn, _ *http.Request) { <-ctx.Done() })
	s := wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: wsTestHeartbeat})
	start := time.Now()
	_, err := s.Next(wsTestCtx(t))
	elapsed := time.Since(start)
	wsErr(t, err, "read", Transient)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("%v does not wrap ErrStalled", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("stall detected after %v, want about Interval+Timeout", elapsed)
	}
}

func TestWebSocket_heartbeat_backPressureIsNotAStall(t *testing.T) {
	// A healthy server that answers pings. The test stops calling Next for
	// several heartbeat rounds: nobody reads the pongs, so the pings time
	// out, and that must not condemn the connection.
	var pings atomic.Int32
	enough := make(chan struct{})
	opts := &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
		if pings.Add(1) == 4 {
			close(enough)
		}
		return true
	}}
	u := newWSServer(t, opts, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		wsWrite(t, ctx, c, websocket.MessageText, "1", "2")
		wsDrain(ctx, c)
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: wsTestHeartbeat})
	ctx := wsTestCtx(t)
	if m, err := s.Next(ctx); err != nil || string(m.Data) != "1" {
		t.Fatalf("first Next = %q, %v", m.Data, err)
	}
	select { // several pings, none of whose pongs could be read
	case <-enough:
	case <-s.life.Done():
		t.Fatalf("the stream was condemned under back-pressure: %v", context.Cause(s.life))
	case <-ctx.Done():
		t.Fatal("the heartbeat never pinged")
	}
	if m, err := s.Next(ctx); err != nil || string(m.Data) != "2" {
		t.Fatalf("Next after back-pressure = %q, %v; want the next message", m.Data, err)
	}
}

func TestWebSocket_heartbeat_healthyIdleServer(t *testing.T) {
	// A server that answers pings but sends nothing: a reader waiting all
	// along sees every pong, and the stream outlives many heartbeat rounds.
	var pings atomic.Int32
	enough := make(chan struct{})
	send := make(chan struct{})
	opts := &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
		if pings.Add(1) == 6 {
			close(enough)
		}
		return true
	}}
	u := newWSServer(t, opts, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			wsDrain(ctx, c)
		}()
		defer func() {
			c.CloseNow()
			<-drained
		}()
		select {
		case <-send:
			wsWrite(t, ctx, c, websocket.MessageText, "late")
		case <-ctx.Done():
		}
		<-ctx.Done()
	})
	s := wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: wsTestHeartbeat})
	go func() {
		<-enough
		close(send)
	}()
	m, err := s.Next(wsTestCtx(t))
	if err != nil || string(m.Data) != "late" {
		t.Fatalf("Next = %q, %v; want the message sent after several pings", m.Data, err)
	}
}

func TestWSActivity_readerStuckSince(t *testing.T) {
	tests := []struct {
		name             string
		reading, last, t int64
		want             bool
	}{
		{name: "nobody reading", reading: 0, last: 1, t: 10, want: false},
		{name: "reading since before the ping", reading: 5, last: 1, t: 10, want: true},
		{name: "reading since the ping", reading: 10, last: 1, t: 10, want: true},
		{name: "reading began after the ping", reading: 11, last: 1, t: 10, want: false},
		{name: "bytes arrived during the wait", reading: 5, last: 12, t: 10, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a wsActivity
			a.reading.Store(tt.reading)
			a.last.Store(tt.last)
			if got := a.readerStuckSince(tt.t); got != tt.want {
				t.Errorf("readerStuckSince = %v, want %v", got, tt.want)
			}
		})
	}
}
