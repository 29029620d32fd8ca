package client

import (
	"context"
	"time"
)

// upgrader runs background probes of the transports above the current one.
// It belongs to one call of supervisor.serve: at most one probe goroutine
// runs at a time, and stop ends it and any stream it opened.
type upgrader struct {
	sv     *supervisor
	t      *time.Timer
	cancel context.CancelFunc
	done   chan probeResult // buffered 1; the probe goroutine's only output
}

// probeResult is the outcome of one probe round: the reader of the first
// transport that proved live (held at its gate), or the errors of each
// transport tried.
type probeResult struct {
	reader *reader
	errs   []probeError
}

type probeError struct {
	transport string
	err       error
}

func newUpgrader(sv *supervisor) *upgrader {
	u := &upgrader{sv: sv}
	u.rearm()
	return u
}

// timer fires when the next probe is due; nil when no probe is scheduled.
func (u *upgrader) timer() <-chan time.Time {
	if u.t == nil || u.done != nil {
		return nil
	}
	return u.t.C
}

// results delivers the outcome of the running probe; nil when none runs.
func (u *upgrader) results() <-chan probeResult { return u.done }

// rearm schedules the next probe when the subscription is below its best
// transport and probing is on.
func (u *upgrader) rearm() {
	u.done, u.cancel = nil, nil
	cfg := &u.sv.s.cfg
	if u.sv.ladder.current == 0 || cfg.UpgradeInterval < 0 {
		u.t = nil
		return
	}
	if u.t == nil {
		u.t = time.NewTimer(cfg.UpgradeInterval)
		return
	}
	u.t.Reset(cfg.UpgradeInterval)
}

// start launches a probe of every rung better than current, best first.
func (u *upgrader) start(current int) {
	s := u.sv.s
	ctx, cancel := context.WithCancel(s.ctx)
	u.cancel = cancel
	u.done = make(chan probeResult, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		u.done <- s.probe(ctx, current)
	}()
}

// stop ends a running probe, closing whatever stream it opened, and stops
// the timer.
func (u *upgrader) stop() {
	if u.t != nil {
		u.t.Stop()
	}
	if u.done == nil {
		return
	}
	u.cancel()
	if res := <-u.done; res.reader != nil {
		res.reader.stop()
	}
	u.done = nil
}

// probe tries each rung above current, best first, from the cursor as it is
// now, and returns the first whose stream proves live: it delivers a message
// or stays healthy for the proof window. The winning reader is returned
// running but held at its gate.
func (s *Subscription) probe(ctx context.Context, current int) probeResult {
	var res probeResult
	for rung := range current {
		tr := s.cfg.Transports[rung]
		stream, err := tr.Open(ctx, s.request())
		if err != nil {
			res.errs = append(res.errs, probeError{tr.Name(), err})
			if ctx.Err() != nil {
				return res
			}
			continue
		}
		r := s.startReader(stream, tr.Name(), rung, false)
		proof := time.NewTimer(s.cfg.proofWindow())
		select {
		case <-r.first:
		case <-proof.C:
		case <-r.exited:
		case <-ctx.Done():
		}
		proof.Stop()
		select {
		case <-r.exited:
			_ = stream.Close()
			res.errs = append(res.errs, probeError{tr.Name(), r.err})
			continue
		default:
		}
		if ctx.Err() != nil {
			r.stop()
			return res
		}
		return probeResult{reader: r}
	}
	return res
}
