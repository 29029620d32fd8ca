//go:build chaos

package chaos

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// TestLadder is scenario 2: the full ladder through Toxiproxy while the
// server refuses WebSocket upgrades for a while and then accepts them again,
// with connection resets in between. The subscriber must downgrade, upgrade
// back, and deliver every id exactly once, in order.
func TestLadder(t *testing.T) {
	prof, seed, rep := setup(t)
	tp := startToxiproxy(t)
	srv := startNode(t, nodeserver.Options{})
	px := proxyTo(t, tp, "ladder", srv)
	rng := rngFor(seed, "ladder")

	start := time.Now()
	rec := record(t, soakConfig(t, seed, "ladder", ladderOf(px.Listen, allTransports...)))
	pub := publish(t, srv, prof.Rate)

	ctx, cancel := context.WithTimeout(context.Background(), prof.MaxSoak)
	defer cancel()
	faults, refusals := 0, 0
	for step := 0; faults < prof.Faults || pub.Published() < prof.Messages || step%4 != 0; step++ {
		if err := pause(ctx, gap(rng, 500*time.Millisecond, 2*time.Second)); err != nil {
			t.Fatalf("soak not done within %v: %d faults, %d messages", prof.MaxSoak, faults, pub.Published())
		}
		var err error
		switch step % 4 {
		case 0: // refuse WebSocket (and every other time SSE too), then cut
			refusals++
			err = srv.RefuseWebSocket(ctx, http.StatusBadRequest)
			if err == nil && refusals%2 == 0 {
				err = srv.SetSSEContentType(ctx, "text/plain")
			}
			if err == nil {
				err = injectReset(ctx, px)
			}
			faults++
		case 1, 3: // cut the connections on whatever rung is in use
			err = injectReset(ctx, px)
			faults++
		case 2: // allow everything again: the upgrade probe should cut back over
			err = srv.RefuseWebSocket(ctx, 0)
			if err == nil {
				err = srv.SetSSEContentType(ctx, "")
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	elapsed := time.Since(start)
	v, a := finish(t, srv, pub, rec, start)
	t.Logf("ladder: %d faults (%d refusals) in %v; %s; downgrades %v, upgrades %v, probe failures %d; %s",
		faults, refusals, elapsed.Round(time.Millisecond), v, a.DowngradePaths, a.UpgradePaths, a.ProbeFailures, a.TransportMix())
	if a.Downgrades == 0 || a.Upgrades == 0 {
		t.Errorf("downgrades %d, upgrades %d: the ladder was not exercised both ways", a.Downgrades, a.Upgrades)
	}
	for _, want := range []string{transport.NameWebSocket, transport.NameSSE, transport.NameLongPoll} {
		if a.MessagesPerTransport[want] == 0 {
			t.Errorf("no message arrived on %s (%s)", want, a.TransportMix())
		}
	}
	_ = rep.Row("ladder", itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder),
		itoa(faults), itoa(a.Downgrades), itoa(a.Upgrades), a.TransportMix(), elapsed.Round(time.Second).String(), pass(t))
}

// TestLadderStream is scenario 8: the ladder sse → stream → longpoll →
// poll through Toxiproxy while the server answers SSE with a wrong content
// type for a while and then serves it again, with connection resets in
// between. The subscriber must downgrade from SSE to the NDJSON stream,
// upgrade back, and deliver every id exactly once, in order.
func TestLadderStream(t *testing.T) {
	prof, seed, rep := setup(t)
	tp := startToxiproxy(t)
	srv := startNode(t, nodeserver.Options{})
	px := proxyTo(t, tp, "ladderstream", srv)
	rng := rngFor(seed, "ladderstream")

	start := time.Now()
	names := []string{transport.NameSSE, transport.NameStream, transport.NameLongPoll, transport.NamePoll}
	rec := record(t, soakConfig(t, seed, "ladderstream", ladderOf(px.Listen, names...)))
	pub := publish(t, srv, prof.Rate)

	ctx, cancel := context.WithTimeout(context.Background(), prof.MaxSoak)
	defer cancel()
	faults := 0
	for step := 0; faults < prof.Faults || pub.Published() < prof.Messages || step%4 != 0; step++ {
		if err := pause(ctx, gap(rng, 500*time.Millisecond, 2*time.Second)); err != nil {
			t.Fatalf("soak not done within %v: %d faults, %d messages", prof.MaxSoak, faults, pub.Published())
		}
		var err error
		switch step % 4 {
		case 0: // refuse SSE, then cut: the subscriber moves down to the stream
			err = srv.SetSSEContentType(ctx, "text/plain")
			if err == nil {
				err = injectReset(ctx, px)
			}
			faults++
		case 1, 3: // cut the connections on whatever rung is in use
			err = injectReset(ctx, px)
			faults++
		case 2: // serve SSE again: the upgrade probe should move back up
			err = srv.SetSSEContentType(ctx, "")
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	elapsed := time.Since(start)
	v, a := finish(t, srv, pub, rec, start)
	t.Logf("ladderstream: %d faults in %v; %s; downgrades %v, upgrades %v, probe failures %d; %s",
		faults, elapsed.Round(time.Millisecond), v, a.DowngradePaths, a.UpgradePaths, a.ProbeFailures, a.TransportMix())
	down, up := transport.NameSSE+"→"+transport.NameStream, transport.NameStream+"→"+transport.NameSSE
	if a.DowngradePaths[down] == 0 || a.UpgradePaths[up] == 0 {
		t.Errorf("downgrades %v, upgrades %v: want %s and %s", a.DowngradePaths, a.UpgradePaths, down, up)
	}
	for _, want := range []string{transport.NameSSE, transport.NameStream} {
		if a.MessagesPerTransport[want] == 0 {
			t.Errorf("no message arrived on %s (%s)", want, a.TransportMix())
		}
	}
	_ = rep.Row("ladderstream", itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder),
		itoa(faults), itoa(a.Downgrades), itoa(a.Upgrades), a.TransportMix(), elapsed.Round(time.Second).String(), pass(t))
}
