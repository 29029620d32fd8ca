package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/transport"
)

// errSuperseded tells a driver that a probe has taken its role: it must
// return without touching the subscription again.
var errSuperseded = errors.New("superseded by an upgrade")

// errHandedOff tells a driver that it has started a fresh goroutine to read
// the stream it just opened, and that goroutine is the driver now.
var errHandedOff = errors.New("handed off to a fresh goroutine")

// supervisor holds the connection state of one subscription. Its fields
// below mu belong to the driver: the one goroutine that, at any time, reads
// the stream in use and reconnects when it ends. The role passes to a probe's
// goroutine when the probe takes over, after the previous driver has let go
// (see takeOver).
type supervisor struct {
	s        *Subscription
	ladder   ladder
	bo       backoff.BackOff
	attempts int // Open calls so far, for the Reconnects counter
	failures int // consecutive failed attempts, for MaxAttempts
	poison   poison
	quiet    quietFactors // per rung; read by probes too

	// authFailure is a refusal of the credentials by a stream that was
	// open: the next attempt refreshes them with it. authRefreshed is set
	// once a refresh has been tried and no attempt has succeeded since.
	authFailure   error
	authRefreshed bool

	credMu   sync.Mutex // serialises calls of Config.Credentials
	sessions sessions   // what each rung's transport keeps between attempts

	mu      sync.Mutex
	active  *reader            // the reader being driven
	probeOK bool               // a probe may take over active now
	upTimer *time.Timer        // the next probe round, when one is scheduled
	attempt context.CancelFunc // ends the probe stream being opened or proved
	probes  sync.WaitGroup     // scheduled and running probe rounds
	current context.CancelFunc // ends the driver's attempt or stream (Pause)
	pause   pauseState
	link    link // the stream Send uses
}

// drive runs the subscription, starting with cur when it is not nil (a probe
// that has just taken over), or with fresh, a stream just opened and not
// yet read, until it ends or the role passes to another goroutine. The
// driver that sees the end records why, waits for every other goroutine and
// closes the Events channel.
func (sv *supervisor) drive(cur *reader, curErr error, fresh *reader) {
	err := sv.run(cur, curErr, fresh)
	if errors.Is(err, errSuperseded) || errors.Is(err, errHandedOff) {
		return // the role, and its place in s.wg, passed to another goroutine
	}
	sv.finish(err)
}

// finish records why the subscription ended and releases everything.
func (sv *supervisor) finish(err error) {
	s := sv.s
	switch {
	case s.closed.Load():
		err = ErrClosed
		s.stats.setState(StateClosed, "")
	case s.ctx.Err() != nil && errors.Is(err, s.ctx.Err()):
		s.stats.setState(StateClosed, "")
	case errors.Is(err, io.EOF):
		err = io.EOF
		s.stats.setState(StateEnded, "")
		s.emit(Event{Kind: EventEnded})
	default:
		s.stats.setState(StateFailed, "")
		s.emit(Event{Kind: EventFailed, Err: err})
	}
	sv.mu.Lock()
	sv.link.set(nil)
	sv.mu.Unlock()
	s.final = s.secrets.scrub(err)
	s.cancel()
	s.wg.Done()
	s.wg.Wait()
	s.local.Lock()  // no local copy is being offered either
	s.queue.close() // every sender has gone; Next reports final once it is empty
	s.local.Unlock()
	s.evMu.Lock()
	if s.events != nil {
		close(s.events)
	}
	s.evClosed = true
	s.evMu.Unlock()
	close(s.finished)
}

// run connects, serves and reconnects until the subscription ends, and
// returns why: io.EOF, a permanent error, the context's error,
// errSuperseded or errHandedOff. When cur is not nil it is served first; it
// is already being read (a probe's reader that took over), and curErr is
// how its stream ended. When fresh is not nil, it is read first.
//
// Each stream opened here is read by a goroutine started for it, which
// takes over as the driver: opening a connection (DNS, TLS, HTTP, a
// handshake) grows a goroutine's stack to 16 or 32 KiB, and the stack of a
// goroutine parked in a read for hours is shrunk only while it uses less
// than a quarter of it. A fresh goroutine's stack fits the read alone: an
// idle WebSocket subscription holds about 6 KiB less.
func (sv *supervisor) run(cur *reader, curErr error, fresh *reader) error {
	s := sv.s
	for {
		if err := sv.awaitResume(); err != nil {
			return err
		}
		var err error
		delivered := false
		if cur != nil {
			delivered, err = sv.release(cur, curErr)
			if errors.Is(err, errSuperseded) {
				return err
			}
			cur = nil
		} else if fresh != nil {
			delivered, err = sv.serve(fresh)
			if errors.Is(err, errSuperseded) {
				return err
			}
			fresh = nil
		} else {
			if err := s.ctx.Err(); err != nil {
				return err
			}
			var r *reader
			r, err = sv.connect()
			if err == nil {
				go sv.drive(nil, nil, r)
				return errHandedOff
			}
		}
		if delivered {
			sv.quiet.reset(sv.ladder.current)
			sv.ladder.delivered()
			sv.bo.Reset()
			sv.failures = 0
		}
		if sv.paused() {
			continue // Pause ended the attempt: that is no failure
		}
		if final := sv.recover(err, delivered); final != nil {
			return final
		}
	}
}

// connect opens the transport of the current rung.
func (sv *supervisor) connect() (*reader, error) {
	s := sv.s
	rung := sv.ladder.current
	tr := s.cfg.Transports[rung]
	if sv.attempts > 0 {
		s.stats.reconnects.Add(1)
	}
	sv.attempts++
	s.stats.setState(StateConnecting, tr.Name())
	s.emit(Event{Kind: EventConnecting, Transport: tr.Name()})
	ctx, cancel := context.WithCancel(s.ctx)
	if err := sv.setCurrent(cancel); err != nil {
		return nil, err
	}
	failure := sv.authFailure
	sv.authFailure = nil
	stream, err := sv.open(ctx, rung, failure)
	if err == nil && sv.paused() {
		_ = stream.Close()
		err = errPaused
	}
	if err != nil {
		cancel()
		if sv.refusesCredentials(err) {
			sv.authRefreshed = true // open has refreshed them already
		}
		return nil, err
	}
	sv.authRefreshed = false
	s.stats.setState(StateConnected, tr.Name())
	s.emit(Event{Kind: EventConnected, Transport: tr.Name()})
	return sv.newReader(stream, ctx, cancel, rung, true), nil
}

// serve reads r, the driver's own stream, until it ends, with upgrade probes
// scheduled while r is below the best rung.
func (sv *supervisor) serve(r *reader) (delivered bool, err error) {
	sv.mu.Lock()
	sv.active = r
	sv.probeOK = true
	sv.scheduleProbe()
	sv.link.set(r.stream)
	sv.mu.Unlock()
	return sv.release(r, r.pump())
}

// release ends the driver's time on r, whose reading has stopped with err.
// If a probe has taken over meanwhile, it lets go and returns
// errSuperseded. Otherwise it stops probing, waits for any probe round to
// finish, closes r and reports whether r delivered.
func (sv *supervisor) release(r *reader, err error) (bool, error) {
	sv.mu.Lock()
	if r.superseded {
		sv.mu.Unlock()
		close(r.exited)
		return false, errSuperseded
	}
	sv.probeOK = false
	sv.link.set(nil)
	sv.current = nil
	if sv.attempt != nil {
		sv.attempt() // a probe's stream under way ends now
	}
	t := sv.upTimer
	sv.upTimer = nil
	sv.mu.Unlock()
	if t != nil && t.Stop() {
		sv.probes.Done()
	}
	sv.probes.Wait()
	r.settle()
	r.close()
	return r.received.Load() > 0, err
}

// recover decides what follows the failure err of the current transport,
// whose attempt delivered or not: it returns a non-nil error when the
// subscription must end, and otherwise moves down the ladder or waits out a
// backoff delay.
func (sv *supervisor) recover(err error, delivered bool) error {
	s := sv.s
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	from := sv.ladder.current
	name := s.cfg.Transports[from].Name()
	if s.cfg.Credentials != nil && !sv.authRefreshed && sv.refusesCredentials(err) {
		// An open stream's credentials expired: refresh them and
		// reconnect at once.
		sv.authFailure, sv.authRefreshed = err, true
		s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err})
		return nil
	}
	switch transport.ClassOf(err) {
	case transport.EndOfStream:
		return io.EOF
	case transport.Permanent:
		return err
	}
	if skipped, final := sv.checkPoison(err); final != nil {
		return final
	} else if skipped {
		sv.failures = 0
		return nil // resume after the skipped message at once
	}
	if !delivered {
		sv.failures++
	}
	if limit := s.cfg.MaxAttempts; limit > 0 && sv.failures >= limit {
		return &GaveUpError{Attempts: sv.failures, Err: err}
	}
	switch transport.ClassOf(err) {
	case transport.Unsupported:
		if all := sv.ladder.unsupported(err); all != nil {
			return &UnsupportedError{Reasons: all}
		}
	default:
		sv.ladder.failed()
	}
	announced := false
	if silentStall(err, delivered) && sv.ladder.failures >= sv.ladder.downgradeAfter {
		// About to leave a rung whose streams only ever went silent:
		// first make sure the server is not merely quiet (see quiet.go).
		s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err})
		announced = true
		if sv.quietBelow() {
			sv.ladder.failures, sv.failures = 0, 0
			sv.bo.Reset()
			sv.quiet.stretch(from)
			hb := s.cfg.heartbeat()
			s.emit(Event{Kind: EventQuiet, Transport: name, Err: err, Budget: hb.Interval*sv.quiet.factor(from) + hb.Timeout})
			return nil // the same rung again, at once
		}
	}
	if to, ok := sv.ladder.downgrade(); ok {
		s.stats.downgrades.Add(1)
		if !announced {
			s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err})
		}
		s.emit(Event{Kind: EventDowngraded, From: name, To: s.cfg.Transports[to].Name(), Err: err})
		return nil // the next rung is tried at once
	}
	delay := backoff.WithFloor(sv.bo.NextBackOff(), transport.RetryAfterOf(err))
	s.stats.setState(StateWaiting, "")
	if !announced {
		s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err, RetryIn: delay})
	}
	return sv.wait(delay)
}

// wait blocks for d, until the subscription ends, or until it is paused.
func (sv *supervisor) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-sv.pauseSignal():
		return nil
	case <-sv.s.ctx.Done():
		return sv.s.ctx.Err()
	}
}
