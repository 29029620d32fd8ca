package client

import (
	"context"
	"errors"
)

// errPaused ends an attempt that Pause overtook.
var errPaused = errors.New("client: paused")

// pauseState is the supervisor's record of Pause and Resume; it is guarded
// by the supervisor's mu.
type pauseState struct {
	on      bool
	paused  chan struct{} // closed by Pause; a backoff wait ends on it
	resumed chan struct{} // closed by Resume; the driver waits on it
}

// Pause closes the connection and stops every timer and probe, keeping the
// cursor and the dedupe window: nothing is read until Resume, which
// reconnects from where the subscription stopped, so that nothing is lost
// or repeated across the pause. A Send waits while the subscription is
// paused. Pause on a paused subscription does nothing.
//
// Use it to stop following a source while nobody looks (a hidden page, an
// idle terminal) without losing the place.
func (s *Subscription) Pause() {
	sv := s.sv
	sv.mu.Lock()
	if sv.pause.on || s.ctx.Err() != nil {
		sv.mu.Unlock()
		return
	}
	sv.pause.on = true
	sv.pause.resumed = make(chan struct{})
	if sv.pause.paused != nil {
		close(sv.pause.paused)
	}
	if sv.current != nil {
		sv.current() // the driver's stream or attempt ends now
	}
	if sv.attempt != nil {
		sv.attempt() // so does a probe's
	}
	sv.mu.Unlock()
	s.stats.setState(StatePaused, "")
	s.emit(Event{Kind: EventPaused})
}

// Resume reconnects a paused subscription from its cursor. Resume on a
// subscription that is not paused does nothing.
func (s *Subscription) Resume() {
	sv := s.sv
	sv.mu.Lock()
	if !sv.pause.on {
		sv.mu.Unlock()
		return
	}
	sv.pause.on = false
	sv.pause.paused = nil
	close(sv.pause.resumed)
	sv.mu.Unlock()
	s.emit(Event{Kind: EventResumed})
}

// paused reports whether the subscription is paused.
func (sv *supervisor) paused() bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.pause.on
}

// pauseSignal returns a channel closed when the subscription is paused.
func (sv *supervisor) pauseSignal() <-chan struct{} {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.pause.on {
		return closedChan
	}
	if sv.pause.paused == nil {
		sv.pause.paused = make(chan struct{})
	}
	return sv.pause.paused
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// awaitResume blocks while the subscription is paused; it returns the
// context's error if the subscription ends meanwhile.
func (sv *supervisor) awaitResume() error {
	sv.mu.Lock()
	on, resumed := sv.pause.on, sv.pause.resumed
	sv.mu.Unlock()
	if !on {
		return nil
	}
	select {
	case <-resumed:
		return nil
	case <-sv.s.ctx.Done():
		return sv.s.ctx.Err()
	}
}

// setCurrent records cancel as the way to end the driver's attempt, unless
// the subscription is paused, in which case it cancels at once and returns
// errPaused.
func (sv *supervisor) setCurrent(cancel context.CancelFunc) error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.pause.on {
		cancel()
		return errPaused
	}
	sv.current = cancel
	return nil
}
