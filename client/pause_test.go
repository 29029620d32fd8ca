package client

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/transport"
)

func TestPause_closesAndResumeLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newMemServer("a")
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{srv}, Backoff: noJitterLinear()})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		srv.publish(3)
		collect(t, sub, 3)

		sub.Pause()
		synctest.Wait()
		srv.mu.Lock()
		live := len(srv.live)
		srv.mu.Unlock()
		if live != 0 {
			t.Fatalf("%d streams open while paused", live)
		}
		if st := sub.Stats().State; st != StatePaused {
			t.Fatalf("state %v, want paused", st)
		}
		opens := srv.opens
		srv.publish(4)               // published while paused
		time.Sleep(10 * time.Minute) // (synctest) far past any backoff or probe
		synctest.Wait()
		if srv.opens != opens {
			t.Fatalf("%d attempts while paused", srv.opens-opens)
		}

		sub.Resume()
		srv.publish(1)
		got := collect(t, sub, 5)
		if want := []string{"4", "5", "6", "7", "8"}; !slices.Equal(got, want) {
			t.Fatalf("after Resume got %v, want %v", got, want)
		}
		if st := sub.Stats(); st.Duplicates != 0 {
			t.Fatalf("duplicates %d", st.Duplicates)
		}
		sub.Close()
		var ks []EventKind
		for _, e := range drainEvents(sub) {
			if e.Kind == EventDisconnected || e.Kind == EventFailed {
				t.Fatalf("a pause is no failure, got %v", e)
			}
			ks = append(ks, e.Kind)
		}
		if !slices.Contains(ks, EventPaused) || !slices.Contains(ks, EventResumed) {
			t.Fatalf("events %v lack paused/resumed", ks)
		}
	})
}

func TestPause_duringBackoffStopsTheTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{err: transient("a")}}}
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear(), DowngradeAfter: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		synctest.Wait() // first attempt failed; waiting 1s
		sub.Pause()
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := a.openCount(); n != 1 {
			t.Fatalf("%d attempts while paused, want only the first", n)
		}
		sub.Resume()
		synctest.Wait()
		if n := a.openCount(); n != 2 {
			t.Fatalf("%d attempts after Resume, want one more at once", n)
		}
	})
}

func TestMaxAttempts_givesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{msgs: msgs("1"), end: transient("a")}, {err: transient("a")}}}
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear(), MaxAttempts: 3, DowngradeAfter: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		collect(t, sub, 1)
		_, err = sub.Next(context.Background())
		var gu *GaveUpError
		if !errorsAs(err, &gu) || gu.Attempts != 3 {
			t.Fatalf("Next = %v, want a *GaveUpError after 3 attempts", err)
		}
		// The attempt that delivered reset the count: 1 + 3 failed.
		if n := a.openCount(); n != 4 {
			t.Fatalf("%d opens, want 4", n)
		}
	})
}
