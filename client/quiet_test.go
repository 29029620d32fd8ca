package client

import (
	"testing"
	"time"

	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// A quiet SSE server (no messages, no comments) stalls the stream again and
// again; long polling below has nothing new either, so the subscription
// stays on SSE, with a stretched liveness budget, and delivers over SSE
// when something comes. A buffering proxy in front of SSE is still left.
func TestQuiet_staysOnAQuietServer(t *testing.T) {
	ctx := testCtx(t)
	srv := testserver.New(testserver.Options{LongPollHold: 50 * time.Millisecond, KeepAlive: -1})
	t.Cleanup(srv.Close)
	cfg := testConfig(&transport.SSE{URL: srv.SSEURL()}, &transport.LongPoll{URL: srv.LongPollURL(), Hold: 50 * time.Millisecond})
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 20*time.Millisecond, 20*time.Millisecond
	cfg.DowngradeAfter = 2
	cfg.EventBuffer = 1024
	sub := subscribe(t, cfg)

	// Three quiet verdicts, each with a longer budget: far more stalls than
	// DowngradeAfter, and no downgrade.
	var budgets []time.Duration
	for len(budgets) < 3 {
		e := waitEvent(t, ctx, sub, func(e Event) bool {
			return e.Kind == EventQuiet || e.Kind == EventDowngraded
		})
		if e.Kind == EventDowngraded {
			t.Fatalf("downgraded from a quiet server: %v", e)
		}
		budgets = append(budgets, e.Budget)
	}
	if !(budgets[0] < budgets[1] && budgets[1] < budgets[2]) {
		t.Fatalf("budgets %v do not grow", budgets)
	}
	publish(srv, 2)
	got := receive(t, ctx, sub, 2)
	checkSequence(t, got, 1)
	if got[1].Transport != transport.NameSSE {
		t.Fatalf("delivered over %s, want sse", got[1].Transport)
	}
	if st := sub.Stats(); st.Downgrades != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQuiet_bufferingProxyIsStillLeft(t *testing.T) {
	ctx := testCtx(t)
	srv := testserver.New(testserver.Options{LongPollHold: time.Second, KeepAlive: -1})
	t.Cleanup(srv.Close)
	srv.BufferSSE(true)
	cfg := testConfig(&transport.SSE{URL: srv.SSEURL()}, &transport.LongPoll{URL: srv.LongPollURL(), Hold: time.Second})
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 20*time.Millisecond, 20*time.Millisecond
	cfg.DowngradeAfter = 2
	cfg.EventBuffer = 1024
	sub := subscribe(t, cfg)
	publish(srv, 3)
	waitEvent(t, ctx, sub, isDowngrade(transport.NameSSE, transport.NameLongPoll))
	checkSequence(t, receive(t, ctx, sub, 3), 1)
}

// Only a complete answer from below proves the server quiet: when the rung
// below fails too, the silence proves nothing and the subscription moves
// down as before.
func TestQuiet_noAnswerBelowProvesNothing(t *testing.T) {
	ctx := testCtx(t)
	srv := testserver.New(testserver.Options{LongPollHold: 50 * time.Millisecond, KeepAlive: -1})
	t.Cleanup(srv.Close)
	srv.Disable("/long", 503)
	cfg := testConfig(&transport.SSE{URL: srv.SSEURL()}, &transport.LongPoll{URL: srv.LongPollURL(), Hold: 50 * time.Millisecond})
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 20*time.Millisecond, 20*time.Millisecond
	cfg.DowngradeAfter = 2
	cfg.EventBuffer = 1024
	sub := subscribe(t, cfg)
	e := waitEvent(t, ctx, sub, func(e Event) bool { return e.Kind == EventQuiet || e.Kind == EventDowngraded })
	if e.Kind != EventDowngraded {
		t.Fatalf("got %v, want a downgrade: an unanswered rung below is no proof of quiet", e)
	}
}
