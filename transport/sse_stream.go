package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"sync"
	"sync/atomic"

	"github.com/tmaxmax/go-sse"
)

// errSSEConsumer is wrapped by the transient error of a Next or Push that
// would make a stream's second consumer: a Push on a stream that Next has
// read from, a Next on a stream handed to Push, or a second Push. Such a call
// leaves the stream as it was.
var errSSEConsumer = errors.New("a stream is read through Next or through one Push, never both")

// sseConsumer records which way a stream is being read.
type sseConsumer uint8

const (
	sseUnclaimed sseConsumer = iota
	ssePulled                // by Next, through the iter.Pull2 pair
	ssePushed                // by Push, ranging over the parser itself
)

// sseStream reads events from one response body, for one consumer: the first
// Next or Push claims the stream, and a later call of the other kind, or a
// second Push, fails without touching it (errSSEConsumer).
//
// Next pulls from the push-style parser through an iter.Pull2 pair, made by
// the first Next (so a stream read by Push never pays for its coroutine),
// whose next and stop must never run at the same time: Next holds mu while it
// pulls, and Close first cancels the request (which makes a pending pull
// return) and then takes mu to stop the iterator.
//
// Push ranges over the parser in its caller's goroutine. It never holds mu
// while yield runs, so that yield may block, or call Close, without stalling
// Close; instead it sets reading, under mu, for as long as the parser may
// touch the body, and checks closed before it lets the parser read again.
// Close cancels the request, which ends a pending read, then waits until
// reading is off before it halts the tap and closes the body.
//
// Send shares nothing with the consumer: it POSTs through the sender, which
// holds only what Open set and the stream's life, which Close ends.
type sseStream struct {
	mu      sync.Mutex
	idle    sync.Cond // signalled when reading goes off; its L is &mu
	body    io.ReadCloser
	cancel  context.CancelFunc      // cancels the request
	end     context.CancelCauseFunc // ends the stream's life, bounding Send
	sender  httpSender
	decoder Decoder // Request.Decoder, for the data of events without id
	tap     *sseTap
	max     int64
	limit   int         // the parser's bound on one event, fields included
	by      sseConsumer // guarded by mu
	reading bool        // Push's parser may be using the body; guarded by mu
	next    func() (sse.Event, error, bool)
	stop    func()
	lastID  string    // the LastEventID of the previous event delivered; the consumer's own
	yielded uint64    // events go-sse has yielded, dispatched or not; the consumer's own
	out     []Message // the messages of the last event; the consumer's own
	queue   []Message // messages of an event that Next has yet to return; guarded by mu
	pending error     // failure to report once queue is empty; guarded by mu
	err     error     // set once the stream has ended; guarded by mu

	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ Stream = (*sseStream)(nil)
	_ Pusher = (*sseStream)(nil)
	_ Sender = (*sseStream)(nil)
)

// newSSEStream reads events from body; cancel cancels its request, and end
// the life that sender's POSTs are bound to.
func newSSEStream(body io.ReadCloser, cancel context.CancelFunc, end context.CancelCauseFunc, sender httpSender, req Request) *sseStream {
	s := &sseStream{body: body, cancel: cancel, end: end, sender: sender,
		decoder: req.Decoder, max: req.maxMessageSize()}
	s.idle.L = &s.mu
	s.tap = newSSETap(body, req.Heartbeat, cancel)
	s.limit = math.MaxInt
	if s.max < int64(math.MaxInt-sseFieldOverhead) {
		s.limit = int(s.max) + sseFieldOverhead
	}
	return s
}

// events returns the parser over the tapped body. Ranging over it reads the
// body, so only the stream's consumer does, once.
func (s *sseStream) events() iter.Seq2[sse.Event, error] {
	return sse.Read(s.tap, &sse.ReadConfig{MaxEventSize: s.limit})
}

// claim makes by the stream's consumer, or returns the error for a call that
// would be a second one. It runs with mu held.
func (s *sseStream) claim(by sseConsumer) error {
	var what string
	switch {
	case s.by == sseUnclaimed, s.by == ssePulled && by == ssePulled:
		s.by = by
		return nil
	case by == ssePulled:
		what = "Next on a stream read by Push"
	case s.by == ssePulled:
		what = "Push on a stream read by Next"
	default:
		what = "Push called a second time"
	}
	return &Error{Transport: NameSSE, Op: "read", Class: Transient,
		Err: fmt.Errorf("%w: %s", errSSEConsumer, what)}
}

// messages turns a parsed event into the messages it delivers, in order,
// followed by the reason to end the stream when a message's data is over
// the limit (the messages before it are delivered first). A Message's ID is
// the event's LastEventID when it changed since the previous event of this
// stream (or is the first id seen), and empty otherwise, so an event without
// an id field never inherits one.
//
// Such an event is decoded when the stream has a Decoder: its messages, each
// with the event's type unless it names its own, replace the event, unless
// the Decoder fails or finds none, in which case the event is delivered as
// it came. Without a Decoder, the result is s.out, reused by the next call,
// so that an event costs no more than its Data.
func (s *sseStream) messages(ev sse.Event) ([]Message, error) {
	if int64(len(ev.Data)) > s.max {
		tl := &TooLargeError{Size: int64(len(ev.Data)), Limit: s.max, What: "event data"}
		if ev.LastEventID != s.lastID {
			tl.ID = ev.LastEventID // its own id: the client can skip it by that
		}
		return nil, tl
	}
	msg := Message{Event: ev.Type, Data: []byte(ev.Data)}
	if ev.LastEventID != s.lastID {
		msg.ID, s.lastID = ev.LastEventID, ev.LastEventID
	} else if s.decoder != nil {
		if msgs, err := s.decoder(msg.Data); err == nil && len(msgs) > 0 {
			for i := range msgs {
				if msgs[i].Event == "" {
					msgs[i].Event = ev.Type
				}
				if int64(len(msgs[i].Data)) > s.max {
					return msgs[:i], &TooLargeError{ID: msgs[i].ID, Size: int64(len(msgs[i].Data)), Limit: s.max, What: "decoded message data"}
				}
			}
			return msgs, nil
		}
	}
	s.out = append(s.out[:0], msg)
	return s.out, nil
}

// dispatched counts ev, the event go-sse has just yielded, and reports
// whether the WHATWG rules dispatch it. go-sse also yields a block that set
// only an event type or an id (its data is then empty, as it is for a block
// with one empty data field); the rules dispatch no event for a block
// without data, whose id still applies to the events that follow. Such an
// event is dropped before messages sees it, so that lastID stays the id of
// the last event delivered and the next event delivered carries the new id
// as its ID: a cursor taken from Message.ID then moves on with the first
// event after the id, as a browser's last event id would for a reconnection
// made after that event.
func (s *sseStream) dispatched() bool {
	s.yielded++
	return !s.tap.fields.dataless(s.yielded)
}

// Next returns the next message: an event, or one of the messages decoded
// from an event. An event is a block ended by a blank line that had a data
// field, even an empty one; a block with no data field (only an event, id or
// retry field, comments or unknown fields) is none, though its id applies
// to the events that follow. IDs and decoding follow the rules described on
// messages.
//
// Cancelling ctx ends the stream, as it must abort the pending read. On a
// stream handed to Push, Next returns a transient *Error and does nothing.
func (s *sseStream) Next(ctx context.Context) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.claim(ssePulled); err != nil {
		return Message{}, err
	}
	if s.err != nil {
		return Message{}, s.err
	}
	if s.closed.Load() || ctx.Err() != nil {
		return Message{}, s.finish(ctx.Err(), nil)
	}
	if len(s.queue) > 0 {
		m := s.queue[0]
		s.queue[0] = Message{}
		s.queue = s.queue[1:]
		return m, nil
	}
	if s.pending != nil {
		return Message{}, s.fail(s.pending)
	}
	if s.next == nil {
		s.next, s.stop = iter.Pull2(s.events())
	}
	stopWatch := sseCancelOnDone(ctx, s.cancel)
	var ev sse.Event
	for {
		var err error
		var ok bool
		ev, err, ok = s.next()
		if err != nil || !ok {
			stopWatch()
			return Message{}, s.finish(ctx.Err(), err)
		}
		if s.dispatched() {
			break
		}
	}
	stopWatch()
	msgs, err := s.messages(ev)
	if len(msgs) == 0 {
		return Message{}, s.fail(err)
	}
	s.queue = append(s.queue[:0], msgs[1:]...)
	s.pending = err
	return msgs[0], nil
}

// Push implements Pusher: it hands each message to yield, in order, converted,
// decoded and checked exactly as Next does, from the caller's goroutine and without
// the coroutine that Next needs. It returns the *Error that ended the
// stream, the one Next would have returned, or nil once yield returns false,
// which also cancels the request. Close unblocks a Push waiting for bytes,
// which then fails with net.ErrClosed; a yield that blocks does not hold up
// Close, may call it, and is not called again once Close has begun.
//
// Push must be the stream's only consumer. On a stream that Next has read
// from, and once a Push has started, Push and Next return at once a
// transient *Error wrapping errSSEConsumer and leave the stream as it is;
// so that is also what follows the end of a Push.
func (s *sseStream) Push(yield func(Message) bool) error {
	s.mu.Lock()
	if err := s.claim(ssePushed); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.closed.Load() {
		defer s.mu.Unlock()
		return s.finish(nil, nil)
	}
	s.reading = true
	s.mu.Unlock()

	var parseErr, tooLarge error
	stopped := false
events:
	for ev, err := range s.events() {
		if err != nil {
			parseErr = err
			break
		}
		if !s.dispatched() {
			continue
		}
		msgs, err := s.messages(ev)
		if len(msgs) > 0 {
			if !s.handOff() {
				break // closed: hand nothing more over
			}
			for i, msg := range msgs {
				if i > 0 && s.closed.Load() {
					break events // closed while yield ran
				}
				if !yield(msg) {
					stopped = true
					break events
				}
			}
			if err == nil && !s.resume() {
				break // closed while yield ran: the parser must not read again
			}
		}
		if err != nil {
			tooLarge = err
			break
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.pause()
	switch {
	case stopped:
		s.cancel()
		return nil
	case tooLarge != nil:
		return s.fail(tooLarge)
	}
	return s.finish(nil, parseErr)
}

// handOff turns the reading mark off before yield runs, and reports whether
// the stream is still open: once Close has begun, no event is handed over.
func (s *sseStream) handOff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pause()
	return !s.closed.Load()
}

// resume turns the reading mark back on after yield, unless the stream has
// been closed meanwhile.
func (s *sseStream) resume() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading = !s.closed.Load()
	return s.reading
}

// pause turns the reading mark off and wakes a Close waiting for it. It runs
// with mu held.
func (s *sseStream) pause() {
	s.reading = false
	s.idle.Broadcast()
}

// finish records why the stream ended: ctxErr is the error of Next's
// context (nil for Push), and err the parser's, nil when the body ended
// cleanly or no read was made. It runs with mu held.
func (s *sseStream) finish(ctxErr, err error) error {
	switch {
	case s.closed.Load():
		err = fmt.Errorf("stream closed: %w", net.ErrClosed)
	case s.tap.stalled.Load():
		err = &SilenceError{Idle: s.tap.idle}
	case ctxErr != nil:
		err = ctxErr
	case errors.Is(err, bufio.ErrTooLong):
		err = fmt.Errorf("%w: event longer than %d bytes with its fields",
			ErrMessageTooLarge, s.max+sseFieldOverhead)
	case err == nil:
		err = errSSEServerClosed
	}
	return s.fail(err)
}

// fail ends the stream with a transient error carrying the last retry hint.
// It runs with mu held, and with no read in progress, so it may stop the
// iterator.
func (s *sseStream) fail(err error) error {
	e := &Error{Transport: NameSSE, Op: "read", Class: Transient, Err: err}
	e.RetryAfter, _ = s.tap.fields.latest()
	s.err = e
	s.cancel()
	if s.stop != nil {
		s.stop()
	}
	return e
}

// Send implements Sender: it POSTs data to the transport's SendURL (see
// httpSender.send). It does not wait for Next or Push, and fails without
// sending once the stream has been closed.
func (s *sseStream) Send(ctx context.Context, data []byte, key string) error {
	return s.sender.send(ctx, data, key)
}

// Close cancels the request and any Send in flight, waits until a pending
// Next or Push no longer reads the body (a Push inside its yield is not
// waited for), stops the parser and closes the body. It is idempotent and
// always returns nil.
// NotifyRead implements ReadNotifier: f runs before each read of the
// response body, which the parser makes when it has no complete event left
// in its buffer.
func (s *sseStream) NotifyRead(f func()) { s.tap.notify = f }

func (s *sseStream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.end(net.ErrClosed)
		s.cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		for s.reading {
			s.idle.Wait()
		}
		s.queue = nil
		if s.stop != nil {
			s.stop()
		}
		s.tap.halt()
		s.body.Close()
	})
	return nil
}

// sseCancelOnDone calls cancel when ctx ends, until the returned function is
// called; that function returns only once cancel is no longer running.
func sseCancelOnDone(ctx context.Context, cancel func()) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() { cancel(); close(done) })
	return func() {
		if !stopAfter() {
			<-done
		}
	}
}
