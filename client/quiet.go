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
// such stall toward a downgrade moves a healthy subscription off a quiet
// server's best transport, and its probes back up fail the same way for
// ever.
//
// So before a rung whose streams only ever went silent is left, the rung
// below is asked, from the same cursor, for one complete answer (a long
// poll's or a poll's). If it has messages the stream did not deliver, the
// stream was hiding them: the subscription moves down as before. If it
// answers with nothing, the server is merely quiet: the subscription stays,
// with no failure counted, and that rung's liveness budget is doubled (up
// to maxQuietFactor times), so that a quiet server costs a reconnect every
// few minutes instead of every half minute. A message on the rung restores
// its budget. Only a complete answer is proof: a rung below that does not
// answer (the network is down, or its request outlives its deadline) proves
// nothing, and the subscription moves down as before. The price is slower
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

// silentStall reports whether err ended a stream that delivered nothing
// because no byte arrived: what a quiet server and a buffering proxy both
// look like (an unanswered ping or a late answer is neither).
func silentStall(err error, delivered bool) bool {
	var silent *transport.SilenceError
	return !delivered && errors.As(err, &silent)
}

// quietBelow reports whether the next usable rung below the current one
// gives a complete answer with nothing in it. Pause ends the question.
func (sv *supervisor) quietBelow() bool {
	s := sv.s
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
	switch s.cfg.Transports[below].(type) {
	case *transport.LongPoll, *transport.Poll: // Open returns with a whole answer
	default:
		return false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	if sv.setCurrent(cancel) != nil {
		return false // paused
	}
	stream, err := sv.open(ctx, below, nil)
	if err != nil {
		return false
	}
	defer stream.Close()
	// A message from that answer is handed out at once; with none, Next
	// would start another request, which an ended ctx refuses at once.
	done, stop := context.WithCancel(ctx)
	stop()
	_, err = stream.Next(done)
	return err != nil && ctx.Err() == nil
}
