package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errStreamServerClosed ends a stream whose server ended the response
// between two values. For a stream that should never end that is a cue to
// reconnect, so it is transient; it must not wrap io.EOF, which would make
// it look like an end of stream.
var errStreamServerClosed = errors.New("server closed the stream")

// httpStreamConn is the Stream of an HTTPStream: one response body, read
// in the goroutine of Next, which holds mu for as long as it runs. Close
// cancels the request first, which makes a pending read return, and then
// takes mu, so it waits for Next to let go of the body before closing it.
// Send shares nothing with Next: it POSTs through the sender, bounded by
// the stream's life, which Close ends.
type httpStreamConn struct {
	mu      sync.Mutex
	body    io.ReadCloser
	cancel  context.CancelFunc      // cancels the request
	end     context.CancelCauseFunc // ends the stream's life, bounding Send
	release func()                  // closes the connections of a transport made for this stream
	sender  httpSender
	tap     *streamTap
	units   unitReader
	decoder Decoder    // nil: each value read as a WebSocket frame is
	env     envDecoder // the default decoding's scratch
	queue   []Message  // messages of a value that Next has yet to return; guarded by mu
	err     error      // set once the stream has ended; guarded by mu

	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ Stream = (*httpStreamConn)(nil)
	_ Sender = (*httpStreamConn)(nil)
)

func newHTTPStreamConn(body io.ReadCloser, f framer, decoder Decoder, req Request,
	cancel context.CancelFunc, end context.CancelCauseFunc, release func(), sender httpSender) *httpStreamConn {
	s := &httpStreamConn{body: body, cancel: cancel, end: end, release: release, sender: sender, decoder: decoder}
	s.tap = newStreamTap(body, req.Heartbeat, cancel)
	s.units = unitReader{body: s.tap, framer: f, limit: req.maxMessageSize()}
	return s
}

// Next returns the next message: one of those decoded from the next value
// of the body, or a gap marker first when Open found the cursor too old.
// Cancelling ctx ends the stream, as it must abort the pending read.
func (s *httpStreamConn) Next(ctx context.Context) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	stopWatch := sseCancelOnDone(ctx, s.cancel)
	defer stopWatch()
	for {
		unit, err := s.units.next()
		if err != nil {
			var tl *TooLargeError
			if errors.As(err, &tl) && tl.ID == "" {
				tl.ID = s.tooLargeID(unit)
			}
			return Message{}, s.finish(ctx.Err(), err)
		}
		msgs := s.decode(unit)
		if len(msgs) == 0 {
			continue
		}
		s.queue = append(s.queue[:0], msgs[1:]...)
		return msgs[0], nil
	}
}

// NotifyRead implements ReadNotifier: f runs before each read of the
// response body, made when no whole value is left in the stream's buffer.
func (s *httpStreamConn) NotifyRead(f func()) { s.tap.notify = f }

// decode turns one value into its messages, which share no memory with it.
func (s *httpStreamConn) decode(unit []byte) []Message {
	if s.decoder == nil {
		return s.env.frame(nil, unit)
	}
	msgs, err := s.decoder(unit)
	if err != nil {
		return []Message{{Data: bytes.Clone(unit)}}
	}
	return msgs
}

// tooLargeID returns the id of the value unit, over the size limit: the id
// of its one message when the value is whole, or, decoding by default, the
// id of the envelope it starts when its id comes before the cut.
func (s *httpStreamConn) tooLargeID(unit []byte) string {
	if !s.units.whole {
		if s.decoder != nil {
			return ""
		}
		return envelopePrefixID(unit)
	}
	if msgs := s.decode(unit); len(msgs) == 1 {
		return msgs[0].ID
	}
	return ""
}

// finish records why the stream ended: ctxErr is the error of Next's
// context, and err the reader's. It runs with mu held.
func (s *httpStreamConn) finish(ctxErr, err error) error {
	switch {
	case s.closed.Load():
		err = fmt.Errorf("stream closed: %w", net.ErrClosed)
	case s.tap.stalled.Load():
		err = &SilenceError{Idle: s.tap.idle}
	case ctxErr != nil:
		err = ctxErr
	case err == nil, err == io.EOF:
		err = errStreamServerClosed
	}
	return s.fail(err)
}

// fail ends the stream with a transient error. It runs with mu held.
func (s *httpStreamConn) fail(err error) error {
	s.err = &Error{Transport: NameStream, Op: "read", Class: Transient, Err: err}
	s.cancel()
	return s.err
}

// Send implements Sender: it POSTs data to the transport's SendURL (see
// httpSender.send). It does not wait for Next, and fails without sending
// once the stream has been closed.
func (s *httpStreamConn) Send(ctx context.Context, data []byte, key string) error {
	return s.sender.send(ctx, data, key)
}

// Close cancels the request and any Send in flight, waits until a pending
// Next no longer reads the body, and closes it. It is idempotent and
// always returns nil.
func (s *httpStreamConn) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.end(net.ErrClosed)
		s.cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queue = nil
		s.tap.halt()
		s.body.Close()
		s.release()
	})
	return nil
}

// streamTap sits between a stream's response body and its reader, and
// watches for silence: while a Read is blocked on the body, an idle timer
// runs; when it fires, the tap records the stalled verdict and calls kill,
// which cancels the request so that the blocked Read returns. The timer
// runs only inside Read, so time during which nobody asks for bytes (the
// subscriber applying back-pressure) never counts, and any byte at all,
// whitespace between values included, counts as life. Read is called only
// from Next, which never runs concurrently with itself or with the
// stream's halt.
type streamTap struct {
	body    io.Reader
	idle    time.Duration // Interval+Timeout; zero disables liveness
	kill    func()
	timer   *time.Timer
	fired   chan struct{} // closed once the timer's function has returned
	stalled atomic.Bool
	notify  func() // see ReadNotifier; runs before each read of the body
}

func newStreamTap(body io.Reader, hb Heartbeat, kill func()) *streamTap {
	t := &streamTap{body: body, kill: kill, fired: make(chan struct{})}
	if hb.Enabled() {
		t.idle = hb.Interval + hb.Timeout
	}
	return t
}

// Read reads from the body with the idle timer armed.
func (t *streamTap) Read(p []byte) (int, error) {
	if t.stalled.Load() {
		return 0, ErrStalled
	}
	if t.notify != nil {
		t.notify()
	}
	switch {
	case t.idle <= 0:
		return t.body.Read(p)
	case t.timer == nil:
		t.timer = time.AfterFunc(t.idle, t.fire)
	default:
		t.timer.Reset(t.idle)
	}
	n, err := t.body.Read(p)
	if !t.timer.Stop() {
		<-t.fired // the verdict is recorded before Read returns
	}
	return n, err
}

// fire runs at most once: after it, stalled is set and Read no longer arms.
func (t *streamTap) fire() {
	t.stalled.Store(true)
	t.kill()
	close(t.fired)
}

// halt stops the timer for good. It must not run concurrently with Read.
func (t *streamTap) halt() {
	if t.timer != nil {
		t.timer.Stop()
	}
}
