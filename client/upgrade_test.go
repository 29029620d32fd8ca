package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/transport"
)

// pipeTransport opens streams fed through channels the test holds: refuse
// answers the first opens with an error, and each opened stream is
// recorded so the test can feed it, end it and see whether it was closed.
type pipeTransport struct {
	name   string
	refuse int // the first refuse opens fail as unsupported

	mu      sync.Mutex
	opens   int
	streams []*pipeStream
}

func (p *pipeTransport) Name() string { return p.name }

func (p *pipeTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens++
	if p.opens <= p.refuse {
		return nil, &transport.Error{Transport: p.name, Op: "open", Class: transport.Unsupported, Err: errors.New("refused")}
	}
	s := &pipeStream{feed: make(chan transport.Message), end: make(chan error, 1), done: make(chan struct{})}
	p.streams = append(p.streams, s)
	return s, nil
}

// stream returns the i-th stream opened.
func (p *pipeTransport) stream(t *testing.T, i int) *pipeStream {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= len(p.streams) {
		t.Fatalf("%s: stream %d not opened (%d opened)", p.name, i, len(p.streams))
	}
	return p.streams[i]
}

type pipeStream struct {
	feed   chan transport.Message
	end    chan error
	done   chan struct{}
	once   sync.Once
	closed atomic.Bool
}

func (s *pipeStream) Next(ctx context.Context) (transport.Message, error) {
	select {
	case m := <-s.feed:
		return m, nil
	case err := <-s.end:
		return transport.Message{}, err
	case <-s.done:
		return transport.Message{}, &transport.Error{Transport: "pipe", Op: "read", Class: transport.Transient, Err: errors.New("closed")}
	}
}

func (s *pipeStream) Close() error {
	s.once.Do(func() { s.closed.Store(true); close(s.done) })
	return nil
}

func hasEvent(evs []Event, kind EventKind, from, to string) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == kind && e.From == from && e.To == to })
}

// A probe stream that delivers nothing still takes over once it has stayed
// healthy for the proof window (a quiet feed must be able to move back up),
// and not before; afterwards its messages are delivered and the old stream
// is closed.
func TestUpgrade_quietProbeTakesOverAfterProofWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &pipeTransport{name: "a", refuse: 1}
		b := &pipeTransport{name: "b"}
		sub, _ := Subscribe(context.Background(), Config{
			Transports:      []transport.Transport{a, b},
			UpgradeInterval: 10 * time.Second,
			// proof window: 2 × (1s + 1s)
			HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second,
			EventBuffer: 64,
		})
		defer sub.Close()
		synctest.Wait()
		b.stream(t, 0).feed <- transport.Message{ID: "1"}
		collect(t, sub, 1)

		time.Sleep(10 * time.Second) // the probe opens a
		synctest.Wait()
		a.stream(t, 0) // opened
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if st := sub.Stats(); st.Upgrades != 0 || st.Transport != "b" {
			t.Fatalf("took over before the proof window: %+v", st)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := sub.Stats(); st.Upgrades != 1 || st.Transport != "a" {
			t.Fatalf("no take-over after the proof window: %+v", st)
		}
		if !b.stream(t, 0).closed.Load() {
			t.Fatal("the old stream is still open")
		}
		a.stream(t, 0).feed <- transport.Message{ID: "2"}
		if m, err := sub.Next(context.Background()); err != nil || m.ID != "2" || m.Transport != "a" {
			t.Fatalf("after the take-over: %+v, %v", m, err)
		}
		sub.Close()
		if evs := drainEvents(sub); !hasEvent(evs, EventUpgraded, "b", "a") {
			t.Fatalf("no upgrade event in %v", kinds(evs))
		}
		if !a.stream(t, 0).closed.Load() {
			t.Fatal("Close left the stream open")
		}
	})
}

// When the stream in use ends while a probe is still proving itself, the
// probe is abandoned (its stream closed, no take-over) and the driver goes on
// reconnecting as usual.
func TestUpgrade_probeAbandonedWhenStreamInUseEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &pipeTransport{name: "a", refuse: 1}
		b := &pipeTransport{name: "b"}
		sub, _ := Subscribe(context.Background(), Config{
			Transports:        []transport.Transport{a, b},
			UpgradeInterval:   10 * time.Second,
			HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second,
			Backoff:        noJitterLinear(),
			DowngradeAfter: 100,
			EventBuffer:    64,
		})
		defer sub.Close()
		synctest.Wait()
		time.Sleep(10 * time.Second) // the probe opens a and waits
		synctest.Wait()
		b.stream(t, 0).end <- transient("b")
		synctest.Wait()
		if !a.stream(t, 0).closed.Load() {
			t.Fatal("the abandoned probe's stream is still open")
		}
		time.Sleep(5 * time.Second) // past the 1s backoff and the 4s proof window, before the next probe
		synctest.Wait()
		st := sub.Stats()
		if st.Upgrades != 0 || st.Transport != "b" {
			t.Fatalf("stats %+v", st)
		}
		b.stream(t, 1).feed <- transport.Message{ID: "1"}
		if m, err := sub.Next(context.Background()); err != nil || m.Transport != "b" {
			t.Fatalf("after the reconnect: %+v, %v", m, err)
		}
	})
}

// A probe that proves live by delivering waits for the old stream's reader
// to let go even when that reader is blocked on a full queue, and the
// message it delivered comes after everything already queued.
func TestUpgrade_takeOverWhileQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &pipeTransport{name: "a", refuse: 1}
		b := &pipeTransport{name: "b"}
		sub, _ := Subscribe(context.Background(), Config{
			Transports:      []transport.Transport{a, b},
			UpgradeInterval: 10 * time.Second,
			Buffer:          1,
			EventBuffer:     64,
		})
		defer sub.Close()
		synctest.Wait()
		bs := b.stream(t, 0)
		bs.feed <- transport.Message{ID: "1"} // queued
		bs.feed <- transport.Message{ID: "2"} // the driver blocks on the full queue
		time.Sleep(10 * time.Second)
		synctest.Wait()
		a.stream(t, 0).feed <- transport.Message{ID: "2"} // replay from cursor "1": proves a live
		synctest.Wait()
		if st := sub.Stats(); st.Upgrades != 1 {
			t.Fatalf("no take-over: %+v", st)
		}
		go func() { a.stream(t, 0).feed <- transport.Message{ID: "3"} }()
		var got []string
		for range 3 {
			m, err := sub.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.ID+"/"+m.Transport)
		}
		if want := []string{"1/b", "2/a", "3/a"}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
