package client

import (
	"context"
	"time"
)

// Upgrade probes run on a timer's goroutine, one round at a time, while the
// driver serves a stream below the best rung. A round tries each better rung,
// best first, from the cursor as it is then. A stream that proves live (it
// delivers a message, or stays healthy for the proof window) takes over: the
// driver's stream is closed and its goroutine waited for, and the round's
// goroutine carries on as the driver. A round that finds nothing reports the
// failures and schedules the next.

// probeError is why one transport failed a probe.
type probeError struct {
	transport string
	err       error
}

// scheduleProbe arms the next probe round when the active reader is below
// the best rung and probing is on. It runs with mu held.
func (sv *supervisor) scheduleProbe() {
	interval := sv.s.cfg.UpgradeInterval
	if !sv.probeOK || sv.active.rung == 0 || interval < 0 {
		return
	}
	current := sv.active.rung
	sv.probes.Add(1)
	sv.upTimer = time.AfterFunc(interval, func() { sv.probeRound(current) })
}

// probeRound tries every rung above current. It runs on its timer's
// goroutine, counted in probes until it ends or takes over.
func (sv *supervisor) probeRound(current int) {
	s := sv.s
	var errs []probeError
	for rung := range current {
		r, err := sv.probeOpen(rung)
		if r == nil {
			if err == nil {
				break // the driver's stream ended: the round is over
			}
			errs = append(errs, probeError{s.cfg.Transports[rung].Name(), err})
			continue
		}
		r.windowDone = make(chan struct{})
		r.window = time.AfterFunc(s.cfg.proofWindow(), func() {
			defer close(r.windowDone)
			_ = r.claim()
		})
		err = r.pump()
		if r.settle() {
			sv.drive(r, err, nil) // this goroutine is the driver now
			return
		}
		r.close()
		errs = append(errs, probeError{r.name, err})
	}
	sv.mu.Lock()
	if sv.probeOK && s.ctx.Err() == nil && !sv.pause.on { // a round cut short by the end or a pause is no failure
		for _, pe := range errs {
			s.emit(Event{Kind: EventProbeFailed, Transport: pe.transport, Err: pe.err})
		}
		sv.scheduleProbe()
	}
	sv.mu.Unlock()
	sv.probes.Done()
}

// probeOpen opens a probe stream on rung. It returns a nil reader and a nil
// error when probing has stopped.
func (sv *supervisor) probeOpen(rung int) (*reader, error) {
	s := sv.s
	sv.mu.Lock()
	if !sv.probeOK {
		sv.mu.Unlock()
		return nil, nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sv.attempt = cancel
	sv.mu.Unlock()
	stream, err := sv.open(ctx, rung, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	return sv.newReader(stream, ctx, cancel, rung, false), nil
}

// takeOver makes the probe reader r the active one, if the driver's stream
// is still being served: it closes that stream, waits until its goroutine
// has let go of the driver's state, and records the upgrade. It returns
// errNotChosen when probing has stopped.
func (sv *supervisor) takeOver(r *reader) error {
	s := sv.s
	sv.mu.Lock()
	if !sv.probeOK {
		sv.mu.Unlock()
		return errNotChosen
	}
	old := sv.active
	old.superseded = true
	sv.active, sv.probeOK, sv.attempt, sv.upTimer = r, false, nil, nil
	sv.current = r.cancel
	sv.link.set(r.stream)
	sv.mu.Unlock()
	old.close()
	<-old.exited

	// From here on the driver's state belongs to r's goroutine.
	if old.received.Load() > 0 {
		sv.bo.Reset()
	}
	sv.ladder.upgraded(r.rung)
	s.stats.upgrades.Add(1)
	s.stats.setState(StateConnected, r.name)
	s.emit(Event{Kind: EventUpgraded, From: old.name, To: r.name})
	s.emit(Event{Kind: EventConnected, Transport: r.name})
	sv.probes.Done() // the round's goroutine is no longer a probe
	sv.mu.Lock()
	sv.probeOK = true
	sv.scheduleProbe()
	sv.mu.Unlock()
	return nil
}
