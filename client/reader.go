package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anysub/anysub/transport"
)

// reader pulls messages from one stream into the subscription's queue. It is
// started by the supervisor (or by an upgrade probe on the supervisor's
// behalf), runs in its own goroutine, and exits when its stream ends or it is
// stopped; stop waits for that exit.
//
// A reader holds back its messages until its gate opens: a probe's reader
// opens only at cut-over, after the previous reader has exited, so at most
// one reader ever puts messages in the queue.
type reader struct {
	sub    *Subscription
	stream transport.Stream
	name   string
	rung   int

	ctx    context.Context
	cancel context.CancelFunc

	gate      chan struct{} // closed when the reader may enqueue
	gateOnce  sync.Once
	first     chan struct{} // closed when the first message has arrived
	firstOnce sync.Once
	exited    chan struct{} // closed when the goroutine has returned
	err       error         // why the stream ended; read after exited

	received atomic.Uint64 // messages taken off the stream, duplicates included
}

// startReader starts a reader goroutine over stream, owned by s.
func (s *Subscription) startReader(stream transport.Stream, name string, rung int, open bool) *reader {
	ctx, cancel := context.WithCancel(s.ctx)
	r := &reader{
		sub: s, stream: stream, name: name, rung: rung,
		ctx: ctx, cancel: cancel,
		gate: make(chan struct{}), first: make(chan struct{}), exited: make(chan struct{}),
	}
	if open {
		r.open()
	}
	s.wg.Add(1)
	go r.run()
	return r
}

// open lets the reader put messages in the queue.
func (r *reader) open() { r.gateOnce.Do(func() { close(r.gate) }) }

// stop ends the reader and its stream and waits for the goroutine to exit.
func (r *reader) stop() {
	r.cancel()
	_ = r.stream.Close()
	<-r.exited
}

func (r *reader) run() {
	defer r.sub.wg.Done()
	defer close(r.exited)
	defer r.cancel()
	for {
		// Next gets no cancellable ctx: every way a reader ends (stop, the
		// subscription's or probe's ctx, which bound the stream through
		// Open) closes the stream, which unblocks Next. A cancellable ctx
		// would make each call register and remove a context.AfterFunc,
		// several allocations per message.
		m, err := r.stream.Next(context.Background())
		if err != nil {
			r.err = err
			return
		}
		r.firstOnce.Do(func() { close(r.first) })
		r.received.Add(1)
		r.sub.stats.bytes.Add(uint64(len(m.Data)))
		select {
		case <-r.gate:
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
			return
		}
		msg := Message{ID: m.ID, Event: m.Event, Data: m.Data, Transport: r.name, Received: time.Now()}
		if err := r.sub.enqueue(r.ctx, msg); err != nil {
			r.err = err
			return
		}
	}
}

// enqueue puts m in the queue unless its id is in the dedupe window. The id
// is committed to the window and the cursor only after m is in the queue, so
// a reader stopped while blocked on a full queue leaves no trace of m and
// the next stream resumes from before it. Only the single open reader calls
// enqueue, so the check and the commit cannot interleave with another's.
func (s *Subscription) enqueue(ctx context.Context, m Message) error {
	s.gate.Lock()
	dup := s.seen.contains(m.ID)
	s.gate.Unlock()
	if dup {
		s.stats.duplicates.Add(1)
		return nil
	}
	select {
	case s.queue <- m:
	case <-ctx.Done():
		return ctx.Err()
	}
	if m.ID != "" {
		s.gate.Lock()
		s.seen.add(m.ID)
		s.cursor = m.ID
		s.gate.Unlock()
	}
	return nil
}
