//go:build chaos

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Target is what the harness needs of the server under test;
// *nodeserver.Server has it.
type Target interface {
	Publish(ctx context.Context, event string, data json.RawMessage) (string, error)
	LastID(ctx context.Context) (string, error)
}

// Publisher posts numbered messages to a Target at a steady rate, straight
// to the server (never through a fault proxy), so that every fault falls on
// the subscriber's side. A publish that fails (the server is down) is
// retried on the next tick; its sequence number is kept, so a message the
// server stored without answering shows up as the same number twice in the
// payloads, never as a gap.
type Publisher struct {
	target Target
	every  time.Duration

	mu       sync.Mutex
	seq      int
	acked    []uint64 // ids the server acknowledged, in order
	failures int
	changed  chan struct{}

	stop chan struct{}
	done chan struct{}
}

// StartPublisher starts publishing rate messages per second.
func StartPublisher(target Target, rate int) *Publisher {
	p := &Publisher{
		target:  target,
		every:   time.Second / time.Duration(rate),
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *Publisher) run() {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		seq := p.seq + 1
		p.mu.Unlock()
		data := json.RawMessage(fmt.Sprintf(`{"seq":%d,"pad":"chaos-harness-payload"}`, seq))
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		id, err := p.target.Publish(pctx, "tick", data)
		pcancel()
		p.mu.Lock()
		if err != nil {
			p.failures++
		} else if n, perr := strconv.ParseUint(id, 10, 64); perr == nil {
			p.seq = seq
			p.acked = append(p.acked, n)
			close(p.changed)
			p.changed = make(chan struct{})
		} else {
			p.failures++
		}
		p.mu.Unlock()
	}
}

// Stop stops publishing and waits for the publisher's goroutine. Idempotent.
func (p *Publisher) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// Published is how many messages the server acknowledged so far.
func (p *Publisher) Published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// Acked returns the acknowledged ids in order.
func (p *Publisher) Acked() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint64(nil), p.acked...)
}

// Failures is how many publish calls failed (and were retried).
func (p *Publisher) Failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}

// WaitPublished waits until at least n messages have been acknowledged.
func (p *Publisher) WaitPublished(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		got, changed := len(p.acked), p.changed
		p.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-p.done:
			return fmt.Errorf("chaos: publisher stopped after %d of %d messages", got, n)
		case <-ctx.Done():
			return fmt.Errorf("chaos: %d of %d messages published: %w", got, n, ctx.Err())
		}
	}
}

// lastID asks the server for its last id as a number.
func lastID(ctx context.Context, t Target) (uint64, error) {
	s, err := t.LastID(ctx)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
