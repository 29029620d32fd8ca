package socketio

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
)

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bit := make(chan time.Time, 1)
		start := time.Now()
		w := startWatchdog(time.Second, func() { bit <- time.Now() })
		defer w.stop()

		// Pings put the verdict off: it comes a full budget after the last.
		time.Sleep(900 * time.Millisecond)
		w.ping()
		time.Sleep(900 * time.Millisecond)
		w.ping()
		synctest.Wait()
		if len(bit) != 0 {
			t.Fatal("bit while pings came")
		}
		// Waiting on the subscriber does not count, however long.
		w.block()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(bit) != 0 {
			t.Fatal("bit during back-pressure")
		}
		w.unblock()
		unblocked := time.Now()
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if len(bit) != 0 {
			t.Fatal("bit before the budget was spent")
		}
		at := <-bit
		if got := at.Sub(unblocked); got != time.Second {
			t.Fatalf("bit %v after the wait ended, want 1s", got)
		}
		if at.Sub(start) != 12800*time.Millisecond {
			t.Fatalf("bit at %v", at.Sub(start))
		}
	})
}

func TestWatchdog_stop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWatchdog(time.Second, func() { t.Error("bit after stop") })
		w.stop()
		w.stop()
		time.Sleep(5 * time.Second)
	})
}

func TestHeartbeatBudget(t *testing.T) {
	h := handshake{PingInterval: 25000, PingTimeout: 20000}
	for _, tt := range []struct {
		timeout, want time.Duration
	}{
		{0, 45 * time.Second},
		{10 * time.Second, 35 * time.Second},
		{30 * time.Second, 45 * time.Second},
	} {
		if got := heartbeatBudget(h, tt.timeout); got != tt.want {
			t.Errorf("budget with timeout %v = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}

// A server that stops pinging while the connection stays open (half-open
// as the client sees it) is found dead within pingInterval + pingTimeout,
// measured from the last ping it sent, with 10% to spare; and never
// before that budget.
func TestTransport_halfOpen(t *testing.T) {
	// Small enough for a test, large enough that 10% of the budget stays
	// above the timer lateness of a loaded machine running -race.
	const interval, timeout = time.Second, time.Second
	budget := interval + timeout
	for _, tt := range []struct {
		name       string
		transports []string
		hb         transport.Heartbeat
		budget     time.Duration
	}{
		{"polling", []string{"polling"}, transport.Heartbeat{}, budget},
		{"websocket", []string{"websocket"}, transport.Heartbeat{}, budget},
		{"shorter heartbeat timeout", []string{"websocket"}, transport.Heartbeat{Interval: time.Hour, Timeout: 500 * time.Millisecond}, interval + 500*time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			srv := newServer(t, siotest.Options{PingInterval: interval, PingTimeout: timeout})
			st := open(t, ctx, &Transport{URL: srv.URL(), Transports: tt.transports}, transport.Request{Heartbeat: tt.hb})
			// Let a ping or two through, answered, then stop them.
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Pongs >= 2 })
			srv.StopPings(true)
			_, err := st.Next(ctx)
			detected := time.Now()
			if !errors.Is(err, transport.ErrStalled) || classOf(t, err) != transport.Transient {
				t.Fatalf("err %v, want a transient stall", err)
			}
			last := srv.Stats().LastPing
			took := detected.Sub(last)
			t.Logf("%s: dead %v after the last ping (budget %v)", tt.name, took, tt.budget)
			if took < tt.budget || took > tt.budget+tt.budget/10 {
				t.Fatalf("detected %v after the last ping, want within [%v, %v]", took, tt.budget, tt.budget+tt.budget/10)
			}
		})
	}
}

// Pings keep a quiet session alive, well past the budget.
func TestTransport_pingsKeepAlive(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Pongs >= 20 })
	srv.Emit("/", "alive")
	wantMsg(t, next(t, ctx, st), "", "alive", `[]`)
}
