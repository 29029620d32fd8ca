package client

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/transport"
)

// collect reads n messages and returns their ids.
func collect(t *testing.T, sub *Subscription, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		m, err := sub.Next(context.Background())
		if err != nil {
			t.Fatalf("Next after %v: %v", ids, err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// drainEvents returns the events of a finished subscription.
func drainEvents(sub *Subscription) []Event {
	var out []Event
	for e := range sub.Events() {
		out = append(out, e)
	}
	return out
}

func kinds(evs []Event) []EventKind {
	out := make([]EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func noJitterLinear() backoff.Policy {
	return backoff.Linear{Initial: time.Second, Step: time.Second, Max: time.Minute, Jitter: -1}
}

func TestSupervisor_backoffSequenceWithRetryAfterFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hinted := &transport.Error{Transport: "a", Op: "open", Class: transport.Transient, RetryAfter: 5 * time.Second, Err: errors.New("503")}
		a := &scriptTransport{name: "a", steps: []step{
			{err: hinted},         // delay max(1s, 5s) = 5s
			{err: transient("a")}, // delay 2s
			{err: transient("a")}, // delay 3s
			{msgs: msgs("1")},     // delivers, then stays open
		}}
		start := time.Now()
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear(), DowngradeAfter: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := collect(t, sub, 1); got[0] != "1" {
			t.Fatalf("got %v", got)
		}
		var offsets []time.Duration
		for _, at := range a.times() {
			offsets = append(offsets, at.Sub(start))
		}
		want := []time.Duration{0, 5 * time.Second, 7 * time.Second, 10 * time.Second}
		if !slices.Equal(offsets, want) {
			t.Fatalf("attempts at %v, want %v", offsets, want)
		}
		if st := sub.Stats(); st.Reconnects != 3 {
			t.Fatalf("Reconnects = %d, want 3", st.Reconnects)
		}
	})
}

func TestSupervisor_backoffResetsAfterDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{
			{err: transient("a")},                  // wait 1s
			{err: transient("a")},                  // wait 2s
			{msgs: msgs("1"), end: transient("a")}, // delivered: reset, wait 1s
			{err: transient("a")},                  // wait 2s
			{msgs: msgs("2")},
		}}
		start := time.Now()
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear(), DowngradeAfter: 100})
		defer sub.Close()
		collect(t, sub, 2)
		var offsets []time.Duration
		for _, at := range a.times() {
			offsets = append(offsets, at.Sub(start))
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second}
		if !slices.Equal(offsets, want) {
			t.Fatalf("attempts at %v, want %v", offsets, want)
		}
	})
}

func TestSupervisor_neverGivesUpByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{err: transient("a")}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}})
		time.Sleep(2 * time.Hour) // fake time inside the bubble
		synctest.Wait()
		if st := sub.Stats(); st.State != StateWaiting && st.State != StateConnecting {
			t.Fatalf("state after 2h of failures = %v", st.State)
		}
		// The default delay is capped at 30s (+50% jitter), so two hours hold
		// well over 160 attempts; cenkalti's default would have stopped at 15 minutes.
		if n := a.openCount(); n < 160 {
			t.Fatalf("only %d attempts in 2h", n)
		}
		sub.Close()
		if _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close = %v, want ErrClosed", err)
		}
	})
}

func TestSupervisor_downgradeAfterConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{err: transient("a")}}}
		b := &scriptTransport{name: "b", steps: []step{{msgs: msgs("1")}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}, Backoff: noJitterLinear(), DowngradeAfter: 3, UpgradeInterval: -1})
		collect(t, sub, 1)
		if n := a.openCount(); n != 3 {
			t.Fatalf("a opened %d times before downgrade, want 3", n)
		}
		// The downgrade itself waits no backoff delay.
		if at, bt := a.times()[2], b.times()[0]; !at.Equal(bt) {
			t.Fatalf("b opened %v after a's last failure, want at once", bt.Sub(at))
		}
		sub.Close()
		evs := drainEvents(sub)
		i := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == EventDowngraded })
		if i < 0 || evs[i].From != "a" || evs[i].To != "b" {
			t.Fatalf("no downgrade a->b in %v", evs)
		}
		if st := sub.Stats(); st.Downgrades != 1 || st.Transport != "b" {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestSupervisor_unsupportedDowngradesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unsup := &transport.Error{Transport: "a", Op: "open", Class: transport.Unsupported, StatusCode: 403, Err: errors.New("refused")}
		a := &scriptTransport{name: "a", steps: []step{{err: unsup}}}
		b := &scriptTransport{name: "b", steps: []step{{msgs: msgs("1")}}}
		start := time.Now()
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}, UpgradeInterval: -1})
		defer sub.Close()
		collect(t, sub, 1)
		if a.openCount() != 1 || !b.times()[0].Equal(start) {
			t.Fatalf("a opened %d times; b after %v", a.openCount(), b.times()[0].Sub(start))
		}
	})
}

func TestSupervisor_allUnsupportedFailsNamingEach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ua := &transport.Error{Transport: "a", Op: "open", Class: transport.Unsupported, StatusCode: 403, Err: errors.New("upgrade refused")}
		ub := &transport.Error{Transport: "b", Op: "open", Class: transport.Unsupported, StatusCode: 404, Err: errors.New("not found")}
		a := &scriptTransport{name: "a", steps: []step{{err: ua}}}
		b := &scriptTransport{name: "b", steps: []step{{err: ub}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}})
		defer sub.Close()
		_, err := sub.Next(context.Background())
		var ue *UnsupportedError
		if !errors.As(err, &ue) || len(ue.Reasons) != 2 {
			t.Fatalf("Next = %v, want *UnsupportedError with 2 reasons", err)
		}
		if !errors.Is(err, transport.ErrUnsupported) || !errors.Is(err, ua) || !errors.Is(err, ub) {
			t.Fatalf("error %v does not match its reasons", err)
		}
		if st := sub.Stats(); st.State != StateFailed {
			t.Fatalf("state %v", st.State)
		}
	})
}

func TestSupervisor_permanentEndsWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		perm := &transport.Error{Transport: "a", Op: "open", Class: transport.Permanent, StatusCode: 401, Err: errors.New("unauthorized")}
		a := &scriptTransport{name: "a", steps: []step{{err: perm}}}
		b := &scriptTransport{name: "b", steps: []step{{msgs: msgs("1")}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}})
		defer sub.Close()
		_, err := sub.Next(context.Background())
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != 401 {
			t.Fatalf("Next = %v, want the 401", err)
		}
		time.Sleep(time.Hour)
		if a.openCount() != 1 || b.openCount() != 0 {
			t.Fatalf("opens a=%d b=%d, want 1 and 0", a.openCount(), b.openCount())
		}
	})
}

func TestSupervisor_endOfStreamIsEOFAfterQueuedMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eos := &transport.Error{Transport: "a", Op: "read", Class: transport.EndOfStream, StatusCode: 1000, Err: io.EOF}
		a := &scriptTransport{name: "a", steps: []step{{msgs: msgs("1", "2"), end: eos}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}})
		defer sub.Close()
		synctest.Wait() // the stream has ended; both messages wait in the queue
		if got := collect(t, sub, 2); !slices.Equal(got, []string{"1", "2"}) {
			t.Fatalf("got %v", got)
		}
		if _, err := sub.Next(context.Background()); err != io.EOF {
			t.Fatalf("Next = %v, want io.EOF", err)
		}
		var n int
		for _, err := range sub.Messages(context.Background()) {
			t.Fatalf("Messages yielded after EOF: %v", err)
			n++
		}
	})
}

func TestSupervisor_cursorCarriedAcrossReconnectsAndSwitches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unsup := &transport.Error{Transport: "a", Op: "open", Class: transport.Unsupported, Err: errors.New("gone away")}
		a := &scriptTransport{name: "a", steps: []step{
			{msgs: msgs("1", "2"), end: transient("a")},
			{err: unsup},
		}}
		b := &scriptTransport{name: "b", steps: []step{{msgs: msgs("3")}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}, Cursor: "0", UpgradeInterval: -1, Backoff: noJitterLinear()})
		defer sub.Close()
		if got := collect(t, sub, 3); !slices.Equal(got, []string{"1", "2", "3"}) {
			t.Fatalf("got %v", got)
		}
		if got := a.cursors(); !slices.Equal(got, []string{"0", "2"}) {
			t.Fatalf("a cursors %v", got)
		}
		if got := b.cursors(); !slices.Equal(got, []string{"2"}) {
			t.Fatalf("b cursors %v", got)
		}
	})
}

func TestSupervisor_dropsDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stream := append(msgs("1", "2", "2", "3", "1"), transport.Message{Data: []byte("no id")}, transport.Message{Data: []byte("no id")})
		a := &scriptTransport{name: "a", steps: []step{{msgs: stream}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}})
		defer sub.Close()
		if got := collect(t, sub, 5); !slices.Equal(got, []string{"1", "2", "3", "", ""}) {
			t.Fatalf("got %v", got)
		}
		if st := sub.Stats(); st.Duplicates != 2 || st.Messages != 5 || st.LastID != "3" {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestSupervisor_upgradeProbeCutsOverWithoutGapOrDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unsup := &transport.Error{Transport: "a", Op: "open", Class: transport.Unsupported, Err: errors.New("refused")}
		// a is refused at first; when probed later it replays from the
		// probe's cursor, overlapping what b delivered meanwhile.
		a := &scriptTransport{name: "a", steps: []step{{err: unsup}, {msgs: msgs("2", "3", "4", "5")}}}
		bMsgs := make(chan transport.Message)
		b := &feedTransport{name: "b", feed: bMsgs}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a, b}, UpgradeInterval: 10 * time.Second})
		defer sub.Close()
		for _, m := range msgs("1", "2") {
			bMsgs <- m
		}
		got := collect(t, sub, 2)
		time.Sleep(10 * time.Second) // the probe is due
		synctest.Wait()
		// The probe opened a from cursor "2"; it replays "2", which proves it
		// live and is then dropped as a duplicate.
		got = append(got, collect(t, sub, 3)...)
		if !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
			t.Fatalf("got %v", got)
		}
		if c := a.cursors(); c[1] != "2" {
			t.Fatalf("probe cursor %q", c[1])
		}
		st := sub.Stats()
		if st.Upgrades != 1 || st.Transport != "a" || st.Duplicates != 1 {
			t.Fatalf("stats %+v", st)
		}
		sub.Close()
		evs := drainEvents(sub)
		if !slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == EventUpgraded && e.From == "b" && e.To == "a" }) {
			t.Fatalf("no upgrade event in %v", kinds(evs))
		}
	})
}

func TestSupervisor_slowEventReaderNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{msgs: msgs("1"), end: transient("a")}}}
		sub, _ := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, EventBuffer: 1, Backoff: noJitterLinear()})
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := sub.Stats(); st.EventsDropped == 0 || a.openCount() < 10 {
			t.Fatalf("stats %+v after %d opens", st, a.openCount())
		}
		sub.Close()
		sub.Close() // idempotent
		if _, ok := <-sub.Events(); !ok {
			t.Fatal("the newest event should still be queued")
		}
		if _, ok := <-sub.Events(); ok {
			t.Fatal("Events not closed after Close")
		}
	})
}

func TestSubscribe_invalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no transports", Config{}},
		{"nil transport", Config{Transports: []transport.Transport{nil}}},
		{"negative max size", Config{Transports: []transport.Transport{&scriptTransport{name: "a"}}, MaxMessageSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Subscribe(context.Background(), tc.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
