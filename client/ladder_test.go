package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// fullLadder returns every transport of srv, best first.
func fullLadder(srv *testserver.Server) []transport.Transport {
	out := make([]transport.Transport, len(rungs))
	for i, r := range rungs {
		out[i] = r.make(srv)
	}
	return out
}

// waitEvent reads events until one satisfies match, failing on timeout.
func waitEvent(t *testing.T, ctx context.Context, sub *Subscription, match func(Event) bool) Event {
	t.Helper()
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatal("events closed before the expected event")
			}
			if match(e) {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("no matching event: %v (stats %+v)", ctx.Err(), sub.Stats())
		}
	}
}

func isDowngrade(from, to string) func(Event) bool {
	return func(e Event) bool { return e.Kind == EventDowngraded && e.From == from && e.To == to }
}

func TestLadder_downgradePaths(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    func(srv *testserver.Server)
		from, to string
		reason   error
	}{
		{"websocket refused to sse", func(srv *testserver.Server) { srv.RefuseWebSocket(403) },
			transport.NameWebSocket, transport.NameSSE, transport.ErrUnsupported},
		{"websocket stalls to sse", func(srv *testserver.Server) { srv.Stall("/ws", true) },
			transport.NameWebSocket, transport.NameSSE, transport.ErrStalled},
		{"sse wrong content type to longpoll", func(srv *testserver.Server) {
			srv.RefuseWebSocket(403)
			srv.SetSSEContentType("text/html")
		}, transport.NameSSE, transport.NameLongPoll, transport.ErrBadContentType},
		{"sse buffered by a proxy to longpoll", func(srv *testserver.Server) {
			srv.RefuseWebSocket(403)
			srv.BufferSSE(true)
		}, transport.NameSSE, transport.NameLongPoll, transport.ErrStalled},
		{"longpoll 404 to poll", func(srv *testserver.Server) {
			srv.RefuseWebSocket(403)
			srv.Disable("/sse", 404)
			srv.Disable("/long", 404)
		}, transport.NameLongPoll, transport.NamePoll, transport.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			tc.fault(srv)
			cfg := testConfig(fullLadder(srv)...)
			cfg.DowngradeAfter = 2
			cfg.EventBuffer = 1024
			sub := subscribe(t, cfg)
			publish(srv, 3)
			e := waitEvent(t, ctx, sub, isDowngrade(tc.from, tc.to))
			// Under load a stalled server may not even finish the
			// handshake within the heartbeat budget: that is a stall too.
			stalled := tc.reason == transport.ErrStalled && errors.Is(e.Err, context.DeadlineExceeded)
			if !errors.Is(e.Err, tc.reason) && !stalled {
				t.Fatalf("downgrade reason %v, want %v", e.Err, tc.reason)
			}
			publish(srv, 3)
			got := receive(t, ctx, sub, 6)
			checkSequence(t, got, 1)
			if last := got[len(got)-1]; last.Transport != tc.to {
				t.Fatalf("last message over %s, want %s", last.Transport, tc.to)
			}
		})
	}
}

func TestLadder_upgradeBackWhenWebSocketReturns(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t)
	srv.RefuseWebSocket(403)
	cfg := testConfig(fullLadder(srv)...)
	cfg.UpgradeInterval = 30 * time.Millisecond
	cfg.EventBuffer = 1024
	sub := subscribe(t, cfg)

	publish(srv, 3)
	got := receive(t, ctx, sub, 3)
	if got[2].Transport != transport.NameSSE {
		t.Fatalf("first messages over %s, want sse", got[2].Transport)
	}
	// Probes keep failing while WebSocket is refused.
	waitEvent(t, ctx, sub, func(e Event) bool { return e.Kind == EventProbeFailed && e.Transport == transport.NameWebSocket })

	srv.RefuseWebSocket(0)
	waitEvent(t, ctx, sub, func(e Event) bool {
		return e.Kind == EventUpgraded && e.From == transport.NameSSE && e.To == transport.NameWebSocket
	})
	publish(srv, 3)
	got = append(got, receive(t, ctx, sub, 3)...)
	checkSequence(t, got, 1)
	if last := got[len(got)-1]; last.Transport != transport.NameWebSocket {
		t.Fatalf("after the upgrade, messages over %s", last.Transport)
	}
	if st := sub.Stats(); st.Upgrades != 1 || st.Transport != transport.NameWebSocket {
		t.Fatalf("stats %+v", st)
	}
}

// TestLadder_everySwitchUnderTraffic publishes continuously while the
// subscription is pushed down the whole ladder and back up, and checks that
// the ids delivered have no gap and no repeat.
func TestLadder_everySwitchUnderTraffic(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t)
	cfg := testConfig(fullLadder(srv)...)
	cfg.DowngradeAfter = 1
	cfg.UpgradeInterval = 40 * time.Millisecond
	cfg.EventBuffer = 4096
	sub := subscribe(t, cfg)

	stop := make(chan struct{})
	published := make(chan int, 1)
	go func() { // the publisher: one message per tick until stopped
		n := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				published <- n
				return
			case <-tick.C:
				publish(srv, 1)
				n++
			}
		}
	}()

	var got []Message
	recv := func(n int) { got = append(got, receive(t, ctx, sub, n)...) }
	recv(20)
	srv.RefuseWebSocket(403)
	srv.DropAll()
	waitEvent(t, ctx, sub, isDowngrade(transport.NameWebSocket, transport.NameSSE))
	recv(20)
	srv.SetSSEContentType("application/json")
	srv.DropAll()
	waitEvent(t, ctx, sub, isDowngrade(transport.NameSSE, transport.NameLongPoll))
	recv(20)
	srv.Disable("/long", 404)
	srv.DropAll()
	waitEvent(t, ctx, sub, isDowngrade(transport.NameLongPoll, transport.NamePoll))
	recv(20)
	srv.RefuseWebSocket(0)
	waitEvent(t, ctx, sub, func(e Event) bool { return e.Kind == EventUpgraded && e.To == transport.NameWebSocket })
	recv(20)
	close(stop)
	n := <-published
	recv(n - len(got))
	checkSequence(t, got, 1)
	var used []string
	for _, m := range got {
		if len(used) == 0 || used[len(used)-1] != m.Transport {
			used = append(used, m.Transport)
		}
	}
	if want := []string{"websocket", "sse", "longpoll", "poll", "websocket"}; !slices.Equal(used, want) {
		t.Fatalf("transports used %v, want %v", used, want)
	}
}
