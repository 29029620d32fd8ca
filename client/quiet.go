package client

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/anysub/anysub/transport"
)

// A stream whose liveness rests on bytes arriving (SSE) cannot tell a quiet
// server (nothing to say, and no comments to keep the line warm) from a
// buffering proxy (which holds everything back): both stall. Counting every
// such stall as a failure moves a healthy subscription off a quiet server's
// best transport, and its probes back up fail the same way for ever.
//
// So a stall of a stream that delivered nothing is checked against the
// rung below: its first answer from the cursor, within one heartbeat
// budget. If that rung has messages the stream did not deliver, the stream
// was hiding them and the stall is a failure as before. If it has nothing
// either (a long poll held, an empty poll), the server is merely quiet: the
// stream is opened again at once, with no failure counted, and that rung's
// liveness budget is doubled (up to maxQuietFactor times), so that a quiet
// server costs a reconnect every few minutes instead of every 25 seconds.
// Any message on the rung restores its normal budget. The price is slower
// detection of a connection that dies while its server is quiet.

// maxQuietFactor bounds how far a quiet rung's liveness budget stretches.
const maxQuietFactor = 16

// quietFactors holds, per rung, how many times its heartbeat interval is
// stretched; 0 means not at all.
type quietFactors []atomic.Int32

// factor returns the stretch of rung, at least 1.
func (q quietFactors) factor(rung int) time.Duration {
	return time.Duration(max(q[rung].Load(), 1))
}

// stretch doubles rung's stretch, up to maxQuietFactor.
func (q quietFactors) stretch(rung int) {
	q[rung].Store(min(int32(q.factor(rung))*2, maxQuietFactor))
}

// reset restores rung's normal budget.
func (q quietFactors) reset(rung int) { q[rung].Store(0) }

// quietStall reports whether err, which ended a stream of the current rung
// that delivered nothing, is the stall of a quiet server rather than a
// failure: the rung below, asked from the same cursor, has nothing new
// either.
func (sv *supervisor) quietStall(err error, delivered bool) bool {
	s := sv.s
	hb := s.cfg.heartbeat()
	var silent *transport.SilenceError
	if delivered || !hb.Enabled() || !errors.As(err, &silent) {
		return false // an unanswered ping or a late answer is no quiet server
	}
	below := -1
	for i := sv.ladder.current + 1; i < len(sv.ladder.reasons); i++ {
		if sv.ladder.reasons[i] == nil {
			below = i
			break
		}
	}
	if below < 0 {
		return false // nothing to compare with
	}
	ctx, cancel := context.WithTimeout(s.ctx, hb.Interval+hb.Timeout)
	defer cancel()
	stream, err := sv.open(ctx, below, nil)
	if err == nil {
		// A message already there comes at once; otherwise Next waits
		// (a poll's next request, a long poll's hold) until the budget ends.
		_, err = stream.Next(ctx)
		_ = stream.Close()
		if err == nil {
			return false // the rung below has what this stream did not deliver
		}
	}
	// Only the budget running out means "nothing new": any other failure
	// of the rung below proves nothing.
	return errors.Is(ctx.Err(), context.DeadlineExceeded) && s.ctx.Err() == nil
}
