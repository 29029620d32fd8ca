package client

import (
	"errors"
	"io"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/transport"
)

// supervisor holds the connection state of one subscription. Only the
// supervisor goroutine touches it.
type supervisor struct {
	s        *Subscription
	ladder   ladder
	bo       backoff.BackOff
	attempts int // Open calls so far, for the Reconnects counter
}

// supervise runs the subscription until it ends, then records why, waits for
// every other goroutine and closes the Events channel.
func (s *Subscription) supervise() {
	sv := &supervisor{s: s, ladder: newLadder(len(s.cfg.Transports), s.cfg.DowngradeAfter), bo: s.cfg.Backoff.NewBackOff()}
	err := sv.run()
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
	s.final = err
	s.cancel()
	s.wg.Done()
	s.wg.Wait() // readers and probes were all stopped by run; this is the join point
	close(s.events)
	close(s.finished)
}

// run connects, serves and reconnects until the subscription ends, and
// returns why: io.EOF, a permanent error, or the context's error.
func (sv *supervisor) run() error {
	s := sv.s
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		rung := sv.ladder.current
		tr := s.cfg.Transports[rung]
		if sv.attempts > 0 {
			s.stats.reconnects.Add(1)
		}
		sv.attempts++
		s.stats.setState(StateConnecting, tr.Name())
		s.emit(Event{Kind: EventConnecting, Transport: tr.Name()})
		stream, err := tr.Open(s.ctx, s.request())
		delivered := false
		if err == nil {
			s.stats.setState(StateConnected, tr.Name())
			s.emit(Event{Kind: EventConnected, Transport: tr.Name()})
			delivered, err = sv.serve(stream, rung)
		}
		if delivered {
			sv.ladder.delivered()
			sv.bo.Reset()
		}
		if final := sv.recover(err); final != nil {
			return final
		}
	}
}

// recover decides what follows the failure err of the current transport:
// it returns a non-nil error when the subscription must end, and otherwise
// moves down the ladder or waits out a backoff delay.
func (sv *supervisor) recover(err error) error {
	s := sv.s
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	from := sv.ladder.current
	name := s.cfg.Transports[from].Name()
	switch transport.ClassOf(err) {
	case transport.EndOfStream:
		return io.EOF
	case transport.Permanent:
		return err
	case transport.Unsupported:
		if all := sv.ladder.unsupported(err); all != nil {
			return &UnsupportedError{Reasons: all}
		}
	default:
		sv.ladder.failed()
	}
	if to, ok := sv.ladder.downgrade(); ok {
		s.stats.downgrades.Add(1)
		s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err})
		s.emit(Event{Kind: EventDowngraded, From: name, To: s.cfg.Transports[to].Name(), Err: err})
		return nil // the next rung is tried at once
	}
	delay := backoff.WithFloor(sv.bo.NextBackOff(), transport.RetryAfterOf(err))
	s.stats.setState(StateWaiting, "")
	s.emit(Event{Kind: EventDisconnected, Transport: name, Err: err, RetryIn: delay})
	return sv.wait(delay)
}

// wait blocks for d or until the subscription ends.
func (sv *supervisor) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-sv.s.ctx.Done():
		return sv.s.ctx.Err()
	}
}

// serve runs stream on rung until it ends, starting upgrade probes when rung
// is not the best and cutting over to a probe that proves live. It returns
// whether the stream in use at the end delivered any message, and the error
// that ended it.
func (sv *supervisor) serve(stream transport.Stream, rung int) (delivered bool, err error) {
	s := sv.s
	r := s.startReader(stream, s.cfg.Transports[rung].Name(), rung, true)
	up := newUpgrader(sv)
	defer up.stop()
	for {
		select {
		case <-r.exited:
			_ = r.stream.Close()
			return r.received.Load() > 0, r.err
		case <-up.timer():
			up.start(r.rung)
		case res := <-up.results():
			if res.reader == nil {
				for _, pe := range res.errs {
					s.emit(Event{Kind: EventProbeFailed, Transport: pe.transport, Err: pe.err})
				}
				up.rearm()
				continue
			}
			r = sv.cutOver(r, res.reader)
			up.rearm()
		case <-s.ctx.Done():
			r.stop()
			return r.received.Load() > 0, s.ctx.Err()
		}
	}
}

// cutOver replaces the open reader old with the probe's reader next: old is
// stopped and waited for before next may enqueue, so the two never
// interleave.
func (sv *supervisor) cutOver(old, next *reader) *reader {
	s := sv.s
	old.stop()
	if old.received.Load() > 0 {
		sv.bo.Reset()
	}
	from, to := s.cfg.Transports[old.rung].Name(), next.name
	sv.ladder.upgraded(next.rung)
	s.stats.upgrades.Add(1)
	s.stats.setState(StateConnected, to)
	s.emit(Event{Kind: EventUpgraded, From: from, To: to})
	s.emit(Event{Kind: EventConnected, Transport: to})
	next.open()
	return next
}
