package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anysub/anysub/transport"
)

// errNotChosen ends a probe's stream that did not take over: the stream it
// was to replace ended first, or the subscription is ending.
var errNotChosen = errors.New("probe not chosen")

// reader is one open stream and the bookkeeping of whoever reads it. It owns
// no goroutine: the driver reads its own stream in its own goroutine, and a
// probe reads its stream in the probe's goroutine (which becomes the driver
// if the probe takes over).
//
// A reader that is not yet driving holds its first message back and claims
// the subscription first (supervisor.takeOver): at most one reader ever puts
// messages in the queue.
type reader struct {
	sv     *supervisor
	stream transport.Stream
	name   string
	rung   int

	ctx       context.Context // ends a wait on the full queue; bounds the stream
	cancel    context.CancelFunc
	stopWatch func() bool // stops the closing of stream when ctx ends

	driving bool // read and written only by the goroutine running pump

	claimOnce sync.Once // settles, once, whether a probe's reader takes over
	claimErr  error     // nil when it did; read after claimOnce

	// superseded is set, under sv.mu, when a probe has taken over from this
	// reader; exited is closed by the goroutine that read it once that
	// goroutine no longer touches the supervisor's state.
	superseded bool
	exited     chan struct{}

	// window, for a probe's reader, claims the subscription after the proof
	// window if no message has done so; windowDone is closed when its
	// callback has returned.
	window     *time.Timer
	windowDone chan struct{}

	// batched is set when the stream calls the queue's flush before it may
	// wait for the network (transport.ReadNotifier): its messages are
	// queued without waking Next, which flush then does once per read.
	batched bool

	received atomic.Uint64 // messages taken off the stream, duplicates included
	reused   bool          // a message on this stream reused a known id; pump's goroutine only
}

// newReader wraps stream, opened under ctx (cancel ends it). A reader made
// by the driver for its own stream drives from the start. The stream is
// closed when ctx ends, whether or not its transport watches ctx itself, so
// that a pending Next always returns when the subscription ends.
func (sv *supervisor) newReader(stream transport.Stream, ctx context.Context, cancel context.CancelFunc, rung int, driving bool) *reader {
	r := &reader{
		sv: sv, stream: stream, name: sv.s.cfg.Transports[rung].Name(), rung: rung,
		ctx: ctx, cancel: cancel, driving: driving, exited: make(chan struct{}),
		stopWatch: context.AfterFunc(ctx, func() { _ = stream.Close() }),
	}
	if n, ok := stream.(transport.ReadNotifier); ok {
		n.NotifyRead(sv.s.queue.flush)
		r.batched = true
	}
	return r
}

// pump reads the stream and puts its messages in the queue until the stream
// ends, the reader is stopped, or (for a probe) it was not chosen, and
// returns why. A stream that can push its messages is consumed that way,
// which spares the goroutine a pull would need.
func (r *reader) pump() error {
	// Whatever was queued without a wake-up is handed over however the
	// stream ends.
	defer r.sv.s.queue.flush()
	if p, ok := r.stream.(transport.Pusher); ok {
		var stopped error
		err := p.Push(func(m transport.Message) bool {
			stopped = r.accept(m)
			return stopped == nil
		})
		if stopped != nil {
			return stopped
		}
		return err
	}
	for {
		// Next gets no cancellable ctx: every way a reader ends (stop, the
		// subscription's ctx, a cut-over) closes the stream, which unblocks
		// Next. A cancellable ctx would make each call register and remove a
		// context.AfterFunc, several allocations per message.
		m, err := r.stream.Next(context.Background())
		if err != nil {
			return err
		}
		if err := r.accept(m); err != nil {
			return err
		}
	}
}

// accept takes one message off the stream: a probe's reader first claims the
// subscription, then the message goes to the queue unless it is a duplicate.
func (r *reader) accept(m transport.Message) error {
	r.received.Add(1)
	s := r.sv.s
	s.stats.bytes.Add(uint64(len(m.Data)))
	if !r.driving {
		if err := r.claim(); err != nil {
			return err
		}
		r.driving = true
	}
	if m.Gap {
		s.stats.gaps.Add(1)
		s.emit(Event{Kind: EventGap, Transport: r.name, ID: s.Cursor()})
		return nil
	}
	msg := Message{ID: m.ID, Event: m.Event, Data: m.Data, Key: m.Key, Transport: r.name, Received: time.Now()}
	reused, err := s.enqueue(r.ctx, msg, r.rung, !r.batched)
	if reused && !r.reused {
		r.reused = true // once per connection: a restarted log reuses many ids
		s.stats.resets.Add(1)
		s.emit(Event{Kind: EventReset, Transport: r.name, ID: msg.ID})
	}
	return err
}

// claim asks, once, for r to take over the subscription; later calls return
// the first answer. A concurrent call waits for that answer.
func (r *reader) claim() error {
	r.claimOnce.Do(func() { r.claimErr = r.sv.takeOver(r) })
	return r.claimErr
}

// settle closes the question of whether r takes over: if nothing has claimed
// yet, nothing may any more. It waits for a proof-window callback under way
// and reports whether r did take over. Only the goroutine running pump calls
// it, and calling it again is harmless.
func (r *reader) settle() bool {
	r.claimOnce.Do(func() { r.claimErr = errNotChosen })
	if r.window != nil && !r.window.Stop() {
		<-r.windowDone
	}
	r.window = nil
	return r.claimErr == nil
}

// close ends the stream and releases its context. It returns once the
// stream is closed, whichever goroutine closed it.
func (r *reader) close() {
	r.stopWatch()
	r.cancel()
	_ = r.stream.Close()
}

// enqueue puts m, from rung, in the queue unless it repeats a message in
// the dedupe window; wake false leaves a parked Next asleep until the
// queue's flush (see queue). A message that reuses the id of a different one is
// queued, and reported by reused. A message without id is known by its
// key, if it has one: a repeated key is a duplicate whatever the content,
// and a key goes in the window but never becomes the cursor. The id (or
// key) is committed to the window and the cursor only after m is in the
// queue, so a reader stopped while blocked on a full queue leaves no trace
// of m and the next stream resumes from before it. Only the driving reader
// calls enqueue, so its checks and commits never interleave with another
// reader's; SendWithID's local copies look at inflight instead (see
// deliverLocal).
func (s *Subscription) enqueue(ctx context.Context, m Message, rung int, wake bool) (reused bool, err error) {
	mk := s.seen.markOf(&m, rung)
	ref := m.ID
	if ref == "" && m.Key != "" {
		ref, mk = keyRef(m.Key), mark{rung: anyRung}
	}
	s.gate.Lock()
	if m.ID != "" && m.Key != "" && s.seen.contains(keyRef(m.Key)) && !s.seen.contains(m.ID) {
		// The server's echo of a SendWithID copy, under an id of its own:
		// already delivered, but its id moves the cursor past it.
		s.commit(m.ID, mk)
		s.gate.Unlock()
		s.stats.duplicates.Add(1)
		return false, nil
	}
	dup, reused := s.seen.check(ref, mk)
	if dup {
		s.gate.Unlock()
		s.stats.duplicates.Add(1)
		return false, nil
	}
	if s.queue.tryPut(m, wake) { // room at once: check, queue and commit in one step
		s.remember(m.ID, ref, mk)
		s.gate.Unlock()
		return reused, nil
	}
	s.inflight = m.ID
	s.gate.Unlock()
	if err := s.queue.put(ctx, m); err != nil {
		s.gate.Lock()
		s.inflight = ""
		s.gate.Unlock()
		return false, err
	}
	s.gate.Lock()
	s.inflight = ""
	s.remember(m.ID, ref, mk)
	s.gate.Unlock()
	return reused, nil
}

// remember commits a message just queued: its id, as commit does, or, for
// a message without id, ref (its key) to the window only. It runs with
// gate held.
func (s *Subscription) remember(id, ref string, mk mark) {
	if id == "" {
		s.seen.add(ref, mk)
		return
	}
	s.commit(id, mk)
}

// keyRef is how the dedupe window knows a message by its key: a prefix no
// id has (U+0000, which an SSE id cannot hold) keeps keys and ids apart.
func keyRef(key string) string { return "\x00key:" + key }

// commit records id, of a message just queued, in the dedupe window and as
// the cursor. It runs with gate held.
func (s *Subscription) commit(id string, mk mark) {
	if id != "" {
		s.seen.add(id, mk)
		s.cursor = id
	}
}

// mergeDone returns a context that ends when a or b does (with a's error
// when a has ended); stop releases it.
func mergeDone(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stopB := context.AfterFunc(b, cancel)
	return ctx, func() { stopB(); cancel() }
}

// deliverLocal queues m, a local copy of a message being sent, unless its
// id has been delivered or is being queued by the reader, and remembers
// the id so that the server's echo is dropped. The cursor does not move.
func (s *Subscription) deliverLocal(ctx context.Context, m Message) error {
	s.gate.Lock()
	if s.seen.contains(m.ID) || s.inflight == m.ID {
		s.gate.Unlock()
		return nil
	}
	s.seen.add(m.ID, mark{rung: anyRung})
	s.seen.add(keyRef(m.ID), mark{rung: anyRung}) // for an echo that carries it as its Key
	s.gate.Unlock()
	// The queue is closed once the subscription's context has ended and
	// the readers are gone; local holds that close off while m is offered.
	s.local.RLock()
	defer s.local.RUnlock()
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	qctx, stop := mergeDone(ctx, s.ctx)
	defer stop()
	if err := s.queue.put(qctx, m); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrClosed
	}
	return nil
}
