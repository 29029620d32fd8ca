//go:build chaos

package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/nodeserver"
)

// TestRestart is scenario 5: the node server is killed (SIGKILL) and
// restarted on the same port with its log persisted, while messages keep
// being published (the publisher retries while the server is down). Each
// transport alone must resume from its cursor with no gap and no repeat.
func TestRestart(t *testing.T) {
	prof, seed, rep := setup(t)
	for _, name := range allTransports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := startNodeWithLog(t, nodeserver.Options{})
			rng := rngFor(seed, "restart/"+name)

			start := time.Now()
			rec := record(t, soakConfig(t, seed, "restart/"+name, ladderOf(srv.Addr(), name)))
			pub := publish(t, srv, prof.Rate)

			for i := range prof.Restarts {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				before := rec.LastID()
				if err := rec.WaitDelivered(ctx, before+1); err != nil {
					cancel()
					t.Fatalf("restart %d: not delivering before the restart: %v", i+1, err)
				}
				if err := pause(ctx, gap(rng, 500*time.Millisecond, 2*time.Second)); err != nil {
					cancel()
					t.Fatal(err)
				}
				acked := pub.Published()
				if err := srv.Restart(ctx); err != nil {
					cancel()
					t.Fatalf("restart %d: %v", i+1, err)
				}
				// The log survived: the server knows at least what it acknowledged.
				last, err := lastID(ctx, srv)
				cancel()
				if err != nil {
					t.Fatalf("restart %d: last id: %v", i+1, err)
				}
				if acked > 0 && last < pub.Acked()[acked-1] {
					t.Errorf("restart %d: server's last id %d is below the acknowledged %d: the log was not persisted", i+1, last, pub.Acked()[acked-1])
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pub.WaitPublished(ctx, pub.Published()+prof.Rate/2); err != nil { // half a second after the last restart
				t.Fatal(err)
			}
			v, a := finish(t, srv, pub, rec, start)
			t.Logf("%s: %d restarts; %s; publishes retried %d; disconnects %d, reconnects %d", name, prof.Restarts, v, pub.Failures(), a.Disconnects, a.Reconnects)
			if a.Disconnects < prof.Restarts {
				t.Errorf("%d disconnects for %d restarts", a.Disconnects, prof.Restarts)
			}
			_ = rep.Row("restart", name, itoa(prof.Restarts), itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated),
				itoa(v.OutOfOrder), itoa(pub.Failures()), pass(t))
		})
	}
}
