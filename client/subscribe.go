package client

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anysub/anysub/transport"
)

// Message is one message delivered to the subscriber.
type Message struct {
	// ID is the server's message id; empty when it gave none.
	ID string
	// Event is the event name or type; empty when none.
	Event string
	// Data is the payload: raw JSON for JSON envelopes, the data field for SSE,
	// the whole frame for a WebSocket frame that is not a JSON envelope.
	Data []byte
	// Key identifies a message without ID for deduplication only, as its
	// transport's decoder derived it (see transport.Fields.Key); empty
	// otherwise. A message whose key was delivered recently is dropped as
	// a duplicate; unlike an ID, a key never becomes the cursor.
	Key string
	// Transport names the transport the message arrived on.
	Transport string
	// Received is when the message came off the network.
	Received time.Time
}

// Subscription follows one data source. Its methods are safe for concurrent
// use, except that messages are meant to be consumed by one goroutine at a
// time (concurrent Next calls each get different messages, in no promised
// order). The caller must call Close.
type Subscription struct {
	cfg    Config
	ctx    context.Context // lifetime of the subscription
	cancel context.CancelFunc

	queue *queue // bounded: the driver blocks when it is full; closed at the end

	// events is made by the first call of Events; until then, emitted
	// events wait in early (at most EventBuffer, the oldest dropped), so
	// that a subscription nobody asks for events holds no channel buffer.
	evMu     sync.Mutex
	events   chan Event // bounded: the oldest event is dropped when full
	early    []Event
	evClosed bool // the subscription has ended; guarded by evMu

	gate     sync.Mutex // guards cursor, seen and inflight
	cursor   string
	seen     *dedupe
	inflight string // id of a message the reader is waiting to queue

	local   sync.RWMutex // held (read) by SendWithID while it offers a local copy to the queue
	sv      *supervisor
	secrets secrets // credential values scrubbed from every error shown

	stats counters

	wg       sync.WaitGroup // the driver (whichever goroutine holds the role)
	finished chan struct{}  // closed when the last driver has exited and final is set
	final    error          // why the subscription ended; read after finished
	closed   atomic.Bool
	closeMu  sync.Once
}

// Subscribe validates cfg and starts following the source in the background.
// It returns at once; connecting, reconnecting and switching transports
// happen behind it and are reported on Events. It fails only for an invalid
// config (an error wrapping ErrInvalidConfig).
//
// The subscription ends when ctx ends, when Close is called, when the server
// ends the stream, or on a permanent failure; Next then reports which.
func Subscribe(ctx context.Context, cfg Config) (*Subscription, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	s := &Subscription{
		cfg:      c,
		ctx:      lctx,
		cancel:   cancel,
		queue:    newQueue(c.Buffer),
		cursor:   c.Cursor,
		seen:     newDedupe(c.DedupeWindow),
		finished: make(chan struct{}),
	}
	if c.Cursor != "" {
		s.seen.add(c.Cursor, mark{rung: anyRung})
	}
	s.stats.setState(StateConnecting, c.Transports[0].Name())
	s.secrets.addHeader(c.Header, c.SecretHeaders)
	sv := &supervisor{s: s, ladder: newLadder(len(c.Transports), c.DowngradeAfter), bo: c.Backoff.NewBackOff(),
		quiet: make(quietFactors, len(c.Transports))}
	s.sv = sv
	s.wg.Add(1)
	go sv.drive(nil, nil, nil)
	return s, nil
}

// Next returns the next message. It blocks until one is available, ctx ends
// (ctx's error), Close is called (ErrClosed), the server ends the stream
// (io.EOF) or the subscription fails permanently (the error saying why, e.g.
// a *transport.Error with StatusCode 401, or an *UnsupportedError). Messages
// already queued are delivered before io.EOF or a permanent error. Transient
// network failures are never returned: they are retried and reported on
// Events.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	if s.closed.Load() {
		return Message{}, ErrClosed
	}
	m, ok, err := s.queue.get(ctx)
	if err != nil {
		return Message{}, err
	}
	if !ok {
		// The queue is closed once the last driver has gone and final is
		// set; everything queued before that has been delivered.
		if s.closed.Load() {
			return Message{}, ErrClosed
		}
		return Message{}, s.final
	}
	return m, nil
}

// Messages returns an iterator over the messages, for use with range. It
// stops silently when the server ends the stream (io.EOF); any other end
// (ctx, Close, a permanent failure) is yielded once as a non-nil error with
// a zero Message, and then the iteration stops.
func (s *Subscription) Messages(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			m, err := s.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(Message{}, err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// Events returns the channel of state changes. It is closed once the
// subscription has ended and every goroutine it owns has exited. When the
// channel is full the oldest event is dropped, so an unread channel never
// holds the subscription back. Events from before the first call wait for
// it, the most recent EventBuffer of them; the channel's buffer is made
// only then, so a subscription whose events are never read holds none.
func (s *Subscription) Events() <-chan Event {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.events == nil {
		s.events = make(chan Event, s.cfg.EventBuffer)
		for _, e := range s.early {
			s.events <- e
		}
		s.early = nil
		if s.evClosed {
			close(s.events)
		}
	}
	return s.events
}

// Stats returns a snapshot of the subscription's counters.
func (s *Subscription) Stats() Stats { return s.stats.snapshot(s.queue) }

// Close ends the subscription and returns once every goroutine it started has
// exited and every connection is closed. It is idempotent and always returns
// nil; after it, Next returns ErrClosed.
func (s *Subscription) Close() error {
	s.closeMu.Do(func() {
		s.closed.Store(true)
		s.cancel()
	})
	<-s.finished
	return nil
}

// Cursor returns the id the subscription would resume after now.
func (s *Subscription) Cursor() string {
	s.gate.Lock()
	defer s.gate.Unlock()
	return s.cursor
}

// request builds the transport request for an attempt from the current cursor.
func (s *Subscription) request() transport.Request {
	return transport.Request{
		Cursor:         s.Cursor(),
		Header:         s.cfg.Header.Clone(),
		HTTPClient:     s.cfg.HTTPClient,
		MaxMessageSize: s.cfg.MaxMessageSize,
		Heartbeat:      s.cfg.heartbeat(),
		Decoder:        s.cfg.Decoder,

		ForwardHeadersCrossHost: s.cfg.ForwardHeadersCrossHost,
	}
}
