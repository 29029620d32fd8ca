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

// TestBufferingProxy is scenario 3: SSE behind a proxy that holds the
// response body. The stream opens (headers pass) and then stays silent,
// keep-alive comments included; the subscriber must condemn each SSE
// attempt within the heartbeat budget, downgrade to long polling, and lose
// nothing.
func TestBufferingProxy(t *testing.T) {
	prof, seed, rep := setup(t)
	srv := startNode(t, nodeserver.Options{})
	bp, err := StartBufferProxy(srv.URL(), DefaultHoldBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bp.Close() })
	host := bp.URL("")[len("http://"):]

	start := time.Now()
	cfg := soakConfig(t, seed, "buffering", ladderOf(host, transport.NameSSE, transport.NameLongPoll))
	rec := record(t, cfg)
	pub := publish(t, srv, prof.Rate)

	ctx, cancel := context.WithTimeout(context.Background(), prof.MaxSoak)
	defer cancel()
	down, err := rec.WaitEvent(ctx, client.EventDowngraded, start)
	if err != nil {
		t.Fatalf("no downgrade from SSE behind the buffering proxy: %v\nevents:\n%s", err, EventLog(rec.Events(), start, 40))
	}
	// Keep publishing for a while on long polling, with SSE probes failing.
	if err := pub.WaitPublished(ctx, prof.BufferedMessages); err != nil {
		t.Fatal(err)
	}
	v, a := finish(t, srv, pub, rec, start)

	// Each SSE attempt before the downgrade: from connected to disconnected.
	budget := time.Duration(float64(heartbeatBudget()) * budgetSlack)
	var lives []time.Duration
	var connectedAt time.Time
	for _, e := range rec.Events() {
		if !e.Time.Before(down.Time) {
			break
		}
		switch {
		case e.Kind == client.EventConnected && e.Transport == transport.NameSSE:
			connectedAt = e.Time
		case e.Kind == client.EventDisconnected && e.Transport == transport.NameSSE && !connectedAt.IsZero():
			lives = append(lives, e.Time.Sub(connectedAt))
			if !errors.Is(e.Err, transport.ErrStalled) {
				t.Errorf("SSE attempt ended by %v, want a stall verdict (%v)", e.Err, transport.ErrStalled)
			}
			connectedAt = time.Time{}
		}
	}
	d := SummariseDurations(lives)
	t.Logf("buffering: %s; SSE attempts failed %d (each after %v–%v), downgrade %s after %v; probes failed %d, upgrades %d; proxy streams %d, chunks released %d; %s",
		v, len(lives), d.Min, d.Max, down.From+"→"+down.To, down.Time.Sub(start).Round(time.Millisecond), a.ProbeFailures, a.Upgrades, bp.Streams(), bp.Released(), a.TransportMix())
	if down.From != transport.NameSSE || down.To != transport.NameLongPoll {
		t.Errorf("downgrade %s→%s, want sse→longpoll", down.From, down.To)
	}
	if len(lives) < client.DefaultDowngradeAfter {
		t.Errorf("%d SSE attempts failed before the downgrade, want %d", len(lives), client.DefaultDowngradeAfter)
	}
	if d.Max > budget {
		t.Errorf("an SSE attempt behind the buffering proxy lived %v, over the budget %v", d.Max, budget)
	}
	if a.MessagesPerTransport[transport.NameSSE] != 0 {
		t.Errorf("%d messages arrived over SSE through a proxy that held every byte back", a.MessagesPerTransport[transport.NameSSE])
	}
	_ = rep.Row("buffering", itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder),
		itoa(len(lives)), ms(d.Max)+" (budget "+ms(budget)+")", ms(down.Time.Sub(start)), itoa(a.ProbeFailures), pass(t))
}
