//go:build chaos

package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/nodeserver"
)

// resetWindow is how long the reset_peer toxic stays on for one fault: long
// enough to cover a poll request (pollEvery) and catch every open
// connection that carries a byte, short enough to be one fault.
const resetWindow = 100 * time.Millisecond

// injectReset cuts every connection through p that carries data during the
// window: reset_peer with timeout 0, both directions, then removed again.
// Connections opened while it is on are reset too.
func injectReset(ctx context.Context, p *Proxy) error {
	if err := p.AddBoth(ctx, "reset", "reset_peer", map[string]any{"timeout": 0}); err != nil {
		return err
	}
	werr := pause(ctx, resetWindow)
	if err := p.RemoveBoth(context.WithoutCancel(ctx), "reset"); err != nil {
		return err
	}
	return werr
}

// TestResets is scenario 1: on each transport alone, connections through
// Toxiproxy are reset every 0.5–2 s (seeded) while messages flow at a
// steady rate; every id must arrive exactly once, in order.
func TestResets(t *testing.T) {
	prof, seed, rep := setup(t)
	tp := startToxiproxy(t)
	for _, name := range allTransports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := startNode(t, nodeserver.Options{})
			px := proxyTo(t, tp, "resets_"+name, srv)
			rng := rngFor(seed, "resets/"+name)

			start := time.Now()
			rec := record(t, soakConfig(t, seed, "resets/"+name, ladderOf(px.Listen, name)))
			pub := publish(t, srv, prof.Rate)

			ctx, cancel := context.WithTimeout(context.Background(), prof.MaxSoak)
			defer cancel()
			faults := 0
			for faults < prof.Faults || pub.Published() < prof.Messages {
				if err := pause(ctx, gap(rng, 500*time.Millisecond, 2*time.Second)); err != nil {
					t.Fatalf("soak not done within %v: %d faults, %d messages", prof.MaxSoak, faults, pub.Published())
				}
				if err := injectReset(ctx, px); err != nil {
					t.Fatalf("inject reset: %v", err)
				}
				faults++
			}
			elapsed := time.Since(start)
			v, a := finish(t, srv, pub, rec, start)
			t.Logf("%s: %d faults in %v; %s; disconnects %d, reconnects %d; %s",
				name, faults, elapsed.Round(time.Millisecond), v, a.Disconnects, a.Reconnects, a.TransportMix())
			if a.Disconnects < faults/2 {
				t.Errorf("only %d disconnects for %d injected resets: the faults did not bite", a.Disconnects, faults)
			}
			if len(a.Transports) != 1 || a.Transports[0] != name {
				t.Errorf("messages arrived on %v, want only %s", a.Transports, name)
			}
			_ = rep.Row("resets", name, itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder),
				itoa(faults), itoa(a.Disconnects), itoa(a.Reconnects), elapsed.Round(time.Second).String(), pass(t))
		})
	}
}

// pass renders t's outcome so far for a report row.
func pass(t *testing.T) string {
	if t.Failed() {
		return "**FAIL**"
	}
	return "pass"
}
