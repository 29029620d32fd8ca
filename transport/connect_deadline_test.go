package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// blackHole listens on loopback, accepts every connection and never sends a
// byte: a server that is up as far as TCP goes and dead otherwise. It
// returns the address.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Against a server that accepts and never answers, every transport gives
// up within what bounds its detection: the heartbeat budget for the
// connection phase of WebSocket and SSE (or their own HandshakeTimeout),
// hold plus timeout for a long poll, interval plus timeout for a poll.
func TestConnectDeadline_blackHole(t *testing.T) {
	addr := blackHole(t)
	hb := Heartbeat{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}
	slow := Heartbeat{Interval: time.Minute, Timeout: time.Minute}
	for _, tc := range []struct {
		name  string
		tr    Transport
		hb    Heartbeat
		bound time.Duration // the deadline that must end the attempt
	}{
		{"websocket, heartbeat budget", &WebSocket{URL: "ws://" + addr + "/ws"}, hb, 200 * time.Millisecond},
		{"sse, heartbeat budget", &SSE{URL: "http://" + addr + "/sse"}, hb, 200 * time.Millisecond},
		{"websocket, own bound", &WebSocket{URL: "ws://" + addr + "/ws", HandshakeTimeout: 150 * time.Millisecond}, slow, 150 * time.Millisecond},
		{"sse, own bound", &SSE{URL: "http://" + addr + "/sse", HandshakeTimeout: 150 * time.Millisecond}, slow, 150 * time.Millisecond},
		{"longpoll, hold and timeout", &LongPoll{URL: "http://" + addr + "/long", Hold: 100 * time.Millisecond}, hb, 200 * time.Millisecond},
		{"poll, interval and timeout", &Poll{URL: "http://" + addr + "/poll"}, hb, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := tc.tr.Open(ctx, Request{Heartbeat: tc.hb})
			took := time.Since(start)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			classWant(t, tc.name, err, Transient)
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrStalled) {
				t.Errorf("%v is neither a deadline nor a stall", err)
			}
			// Generous: five times the bound, and not before it.
			if took > 5*tc.bound || took < tc.bound*9/10 {
				t.Errorf("Open failed after %v, want about %v", took, tc.bound)
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explicit time.Duration
		hb       Heartbeat
		want     time.Duration
	}{
		{"heartbeat off", 0, Heartbeat{}, 10 * time.Second},
		{"heartbeat budget", 0, Heartbeat{Interval: time.Second, Timeout: 666 * time.Millisecond}, 1666 * time.Millisecond},
		{"explicit, shorter", 50 * time.Millisecond, Heartbeat{Interval: time.Second, Timeout: time.Second}, 50 * time.Millisecond},
		{"explicit, longer", time.Minute, Heartbeat{Interval: time.Second, Timeout: time.Second}, time.Minute},
		{"explicit none", -1, Heartbeat{Interval: time.Second, Timeout: time.Second}, -1},
	} {
		if got := connectTimeout(tc.explicit, tc.hb); got != tc.want {
			t.Errorf("%s: connectTimeout(%v, %+v) = %v, want %v", tc.name, tc.explicit, tc.hb, got, tc.want)
		}
	}
}
