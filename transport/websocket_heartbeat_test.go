package transport

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
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

func TestWebSocket_heartbeat_noGoroutineWhileWaiting(t *testing.T) {
	// Streams waiting for their next ping own no goroutine: not while idle,
	// nor while Next waits for a frame.
	const streams = 3
	u := newWSServer(t, nil, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
	hb := Heartbeat{Interval: time.Hour, Timeout: time.Hour}
	var ss []*wsStream
	for range streams {
		ss = append(ss, wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: hb}))
	}
	ctx, cancel := context.WithCancel(wsTestCtx(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = ss[0].Next(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	wsWaitFor(t, "Next to block in a read", ss[0].act.reading)
	if g := wsStreamGoroutines(); g != 0 {
		t.Fatalf("%d goroutines run stream code while %d streams wait for their first ping", g, streams)
	}
}

func TestWebSocket_heartbeat_closeDuringPing(t *testing.T) {
	// The server reads but never answers a ping: Close comes while one is
	// waiting for its pong (for an hour), must cut it short, and leaves the
	// heartbeat disarmed with no goroutine behind.
	pinged := make(chan struct{})
	var once sync.Once
	opts := &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
		once.Do(func() { close(pinged) })
		return false // no pong
	}}
	u := newWSServer(t, opts, func(ctx context.Context, c *websocket.Conn, _ *http.Request) { wsDrain(ctx, c) })
	hb := Heartbeat{Interval: 10 * time.Millisecond, Timeout: time.Hour}
	s := wsOpen(t, &WebSocket{URL: u}, Request{Heartbeat: hb})
	select {
	case <-pinged:
	case <-wsTestCtx(t).Done():
		t.Fatal("no ping came")
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > wsCloseGrace+2*time.Second {
		t.Errorf("Close took %v with a ping under way", d)
	}
	if !wsHeartbeatStopped(s.beat) {
		t.Error("the heartbeat is still armed after Close")
	}
	// The last callback may still be on its way out, past its last step.
	wsWaitFor(t, "the stream's goroutines to end", func() bool { return wsStreamGoroutines() == 0 })
}

// wsHeartbeatStopped reports whether h is stopped and its timer disarmed.
func wsHeartbeatStopped(h *wsHeartbeat) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer.Stop() { // still armed: disarm it as stop would have
		h.pending.Done()
		return false
	}
	return h.stopped
}

// wsStreamGoroutines counts the goroutines the streams run themselves: the
// ones running code of this package, other than the caller, TestMain, a
// test server's handlers and Next.
func wsStreamGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || !strings.Contains(g, "anysub/transport.") {
			continue
		}
		switch {
		case strings.Contains(g, "transport.TestMain"),
			strings.Contains(g, "transport.newWSServer"),
			strings.Contains(g, "transport.(*wsStream).Next"):
			continue
		}
		n++
	}
	return n
}

func TestWSActivity_stuckSince(t *testing.T) {
	const at = 10
	tests := []struct {
		name        string
		marked, now uint64 // reads at the mark (just before the ping) and at the verdict
		last        int64
		want        bool
	}{
		{name: "nobody reading", marked: 2, now: 2, last: 1, want: false},
		{name: "same read all along", marked: 3, now: 3, last: 1, want: true},
		{name: "read began after the ping", marked: 2, now: 3, last: 1, want: false},
		{name: "read ended and another began", marked: 3, now: 5, last: 1, want: false},
		{name: "bytes arrived during the wait", marked: 3, now: 3, last: 12, want: false},
		{name: "bytes arrived as the ping went", marked: 3, now: 3, last: at, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a wsActivity
			a.reads.Store(tt.now)
			a.last.Store(tt.last)
			if got := a.stuckSince(wsMark{at: at, reads: tt.marked}); got != tt.want {
				t.Errorf("stuckSince = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWSActivity_reads(t *testing.T) {
	a := newWSActivity(false)
	if a.reading() {
		t.Fatal("reading before any read")
	}
	a.beginRead()
	m := a.mark()
	if !a.reading() || m.reads%2 != 1 {
		t.Fatalf("not reading inside a read (reads %d)", m.reads)
	}
	a.endRead()
	if a.reading() {
		t.Fatal("still reading after the read")
	}
	if a.last.Load() != 0 {
		t.Error("untimed activity read the clock")
	}
}
