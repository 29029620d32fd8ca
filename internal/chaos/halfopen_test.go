//go:build chaos

package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// TestHalfOpen is scenario 4: Toxiproxy stops forwarding in both directions
// without closing anything. The subscriber must declare the connection dead
// within the heartbeat budget (+10%), measured from the moment the fault
// was applied, and then resume with nothing lost. The transports run one
// after another, not in parallel, so that the timing is not skewed by the
// other soaks on a small machine.
func TestHalfOpen(t *testing.T) {
	prof, seed, rep := setup(t)
	tp := startToxiproxy(t)
	budget := time.Duration(float64(heartbeatBudget()) * budgetSlack)
	for _, name := range allTransports {
		t.Run(name, func(t *testing.T) {
			srv := startNode(t, nodeserver.Options{})
			px := proxyTo(t, tp, "halfopen_"+name, srv)
			rng := rngFor(seed, "halfopen/"+name)

			start := time.Now()
			rec := record(t, soakConfig(t, seed, "halfopen/"+name, ladderOf(px.Listen, name)))
			pub := publish(t, srv, prof.Rate)

			var detections []time.Duration
			for i := range prof.HalfOpenFaults {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				d, err := halfOpen(ctx, rng, px, rec)
				cancel()
				if err != nil {
					t.Fatalf("stall %d: %v\nevents (last 30):\n%s", i+1, err, EventLog(tail(rec.Events(), 30), start, 30))
				}
				detections = append(detections, d)
				if d > budget {
					t.Errorf("stall %d detected after %v, over the budget %v\nevents (last 10):\n%s", i+1, d, budget, EventLog(tail(rec.Events(), 10), start, 10))
				}
			}
			v, a := finish(t, srv, pub, rec, start)
			s := SummariseDurations(detections)
			t.Logf("%s: %d stalls detected in %v / %v / %v (min/median/max), budget %v; %s; reconnects %d",
				name, s.N, s.Min, s.Median, s.Max, budget, v, a.Reconnects)
			_ = rep.Row("halfopen", name, itoa(s.N), ms(s.Min), ms(s.Median), ms(s.P95), ms(s.Max), ms(budget),
				itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder), pass(t))
		})
	}
}

// halfOpen waits a random 0.5–2 s, blackholes the proxy, waits for the
// subscriber's disconnected event, lifts the fault and waits for the next
// delivery. It returns the time from the fault to the event.
func halfOpen(ctx context.Context, rng interface{ Int64N(int64) int64 }, px *Proxy, rec *Recorder) (time.Duration, error) {
	// The stream must be up and delivering before the fault, or there is
	// nothing to detect.
	before := rec.LastID()
	if err := rec.WaitDelivered(ctx, before+1); err != nil {
		return 0, err
	}
	if err := pause(ctx, 500*time.Millisecond+time.Duration(rng.Int64N(int64(1500*time.Millisecond)))); err != nil {
		return 0, err
	}
	applied := time.Now()
	if err := px.AddBoth(ctx, "halfopen", "timeout", map[string]any{"timeout": 0}); err != nil {
		return 0, err
	}
	ev, err := rec.WaitEvent(ctx, client.EventDisconnected, applied)
	rerr := px.RemoveBoth(context.WithoutCancel(ctx), "halfopen")
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if !errors.Is(ev.Err, transport.ErrStalled) {
		return 0, errors.New("disconnected for another reason than a stall: " + ev.String())
	}
	// Resumed: a message newer than any before the fault.
	if err := rec.WaitDelivered(ctx, rec.LastID()+1); err != nil {
		return 0, err
	}
	return ev.Time.Sub(applied), nil
}
