package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsHeartbeat pings the peer after Interval without inbound frames and cuts
// the connection when a pong that the reader was in a position to see did
// not come within Timeout.
//
// It is driven by a timer rather than a goroutine of its own, so an idle
// stream costs a timer and no stack: the timer's callback runs only to look
// at the clock and, when the connection has been quiet for Interval, to send
// a ping and wait for its pong. Only a callback arms the timer again, as its
// last step, so rounds never overlap.
type wsHeartbeat struct {
	s        *wsStream
	ctx      context.Context // ends with the stream or on stop; bounds each ping
	cancel   context.CancelFunc
	lastPing int64 // when the last ping was sent; used by the callback only

	// For application pings (WebSocket.AppPing); used by the callback only.
	app     func(n int) []byte
	sent    int     // application pings sent so far
	awaited *wsMark // the reader's state at the last application ping, until its verdict

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool           // the timer is not to be armed again
	pending sync.WaitGroup // one count per callback armed or under way
}

// startWSHeartbeat arms the first ping Interval from now.
func startWSHeartbeat(s *wsStream) *wsHeartbeat {
	h := &wsHeartbeat{s: s, app: s.w.AppPing}
	h.ctx, h.cancel = context.WithCancel(s.life)
	if h.app != nil {
		h.lastPing = s.act.now() // the first application ping is due Interval from now
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending.Add(1)
	h.timer = time.AfterFunc(s.hb.Interval, h.fire)
	return h
}

// fire is the timer's callback: one round of the heartbeat.
func (h *wsHeartbeat) fire() {
	defer h.pending.Done()
	h.mu.Lock() // also orders this round after the previous one
	stopped := h.stopped
	h.mu.Unlock()
	if stopped || h.ctx.Err() != nil {
		return
	}
	if next, again := h.round(); again {
		h.arm(next)
	}
}

// round pings when the connection has been quiet for Interval and says
// when the next round is due; again is false once there is nothing left to
// watch (a verdict, or the stream is over).
func (h *wsHeartbeat) round() (next time.Duration, again bool) {
	if h.app != nil {
		return h.appRound()
	}
	if wait := h.untilPing(); wait > 0 {
		return wait, true
	}
	m := h.s.act.mark()
	h.lastPing = m.at
	switch h.ping(m) {
	case pingDead:
		h.s.stall()
		return 0, false
	case pingGone:
		return 0, false
	}
	return h.s.hb.Interval, true
}

// appRound is round for application pings. It never blocks: a ping is
// written, and the verdict on it comes in a later round, Timeout after it.
// Pings go out every Interval whatever the verdicts; when Interval is
// shorter than Timeout several may be outstanding, and the oldest one not
// yet answered is the one judged (an answer to any of them, or any other
// frame, arriving after it clears it).
func (h *wsHeartbeat) appRound() (next time.Duration, again bool) {
	hb := h.s.hb
	now := h.s.act.now()
	if m := h.awaited; m != nil {
		switch {
		case h.s.act.last.Load() >= m.at:
			h.awaited = nil // something arrived since that ping
		case now >= m.at+int64(hb.Timeout):
			h.awaited = nil
			if h.s.act.stuckSince(*m) {
				h.s.stall()
				return 0, false
			}
		}
	}
	pingAt := h.lastPing + int64(hb.Interval)
	if now >= pingAt {
		m := h.s.act.mark()
		h.lastPing = m.at
		ctx, cancel := context.WithTimeout(h.ctx, hb.Timeout)
		err := h.s.conn.Write(ctx, websocket.MessageText, h.app(h.sent))
		cancel()
		if err != nil {
			// The connection is broken or being closed: the reader sees that
			// for itself. A write that timed out has closed the connection.
			return 0, false
		}
		h.sent++
		if h.awaited == nil {
			h.awaited = &m
		}
		now = m.at
		pingAt = m.at + int64(hb.Interval)
	}
	wait := pingAt - now
	if m := h.awaited; m != nil {
		wait = min(wait, m.at+int64(hb.Timeout)-now)
	}
	return time.Duration(max(wait, int64(time.Millisecond))), true
}

// arm schedules the next round after d, unless stop has begun.
func (h *wsHeartbeat) arm(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.pending.Add(1)
		h.timer.Reset(d)
	}
}

// stop disarms the heartbeat, cuts short a ping under way and returns once
// no callback is under way; none starts afterwards. It may be called more
// than once, and concurrently.
func (h *wsHeartbeat) stop() {
	h.mu.Lock()
	h.stopped = true
	if h.timer.Stop() {
		h.pending.Done() // the armed callback will never run
	}
	h.mu.Unlock()
	h.cancel()
	h.pending.Wait()
}

// untilPing is how long to wait before the next ping: Interval after the
// later of the last inbound frame and the last ping.
func (h *wsHeartbeat) untilPing() time.Duration {
	since := max(h.s.act.last.Load(), h.lastPing)
	return time.Duration(since + int64(h.s.hb.Interval) - h.s.act.now())
}

type pingResult int

const (
	pingOK           pingResult = iota // pong received
	pingInconclusive                   // no pong, but nobody was reading to see it
	pingDead                           // no pong although a reader waited all along
	pingGone                           // the connection or the heartbeat is over
)

// ping sends one ping, m being the reader's state just before it, and judges
// the outcome. coder/websocket only notices a pong while some goroutine is
// reading, and under back-pressure nobody is: a missing pong is then no
// evidence against the peer.
func (h *wsHeartbeat) ping(m wsMark) pingResult {
	ctx, cancel := context.WithTimeout(h.ctx, h.s.hb.Timeout)
	defer cancel()
	err := h.s.conn.Ping(ctx)
	switch {
	case err == nil:
		return pingOK
	case h.ctx.Err() != nil, !errors.Is(err, context.DeadlineExceeded):
		return pingGone
	case h.s.act.stuckSince(m):
		return pingDead
	}
	return pingInconclusive
}

// stall ends the stream with ErrStalled and closes the connection so that the
// blocked read returns.
func (s *wsStream) stall() {
	s.cancel(fmt.Errorf("%w: no pong within %v", ErrStalled, roundDuration(s.hb.Timeout)))
	_ = s.conn.CloseNow()
}

// wsActivity is what the heartbeat needs to know about the reader. It costs
// the read path two atomic additions per frame, plus one clock reading when
// the heartbeat is on (timed); without it nothing reads the clock.
type wsActivity struct {
	timed bool
	epoch time.Time
	// reads is odd while a read is under way: it goes up by one as a read
	// begins and by one as it ends, so an unchanged odd value means the
	// same read is still waiting.
	reads atomic.Uint64
	// last is when a frame or frame bytes last arrived, in monotonic
	// nanoseconds since epoch plus one (so that zero means never). Only
	// kept when timed.
	last atomic.Int64
}

func newWSActivity(timed bool) *wsActivity {
	a := &wsActivity{timed: timed, epoch: time.Now()}
	a.inbound()
	return a
}

func (a *wsActivity) now() int64 { return int64(time.Since(a.epoch)) + 1 }

// inbound records that the peer just sent something.
func (a *wsActivity) inbound() {
	if a.timed {
		a.last.Store(a.now())
	}
}

// beginRead and endRead bracket every read of the connection.
func (a *wsActivity) beginRead() { a.reads.Add(1) }
func (a *wsActivity) endRead()   { a.reads.Add(1) }

// reading reports whether a read is under way.
func (a *wsActivity) reading() bool { return a.reads.Load()%2 == 1 }

// wsMark is the reader's state at one moment: the time, and which read (if
// any) was under way.
type wsMark struct {
	at    int64
	reads uint64
}

func (a *wsActivity) mark() wsMark {
	r := a.reads.Load() // before the clock: a read it names began before at
	return wsMark{at: a.now(), reads: r}
}

// stuckSince reports whether the read under way at m is still the one under
// way now, and nothing arrived since m: that reader would have seen a pong
// sent in answer to a ping sent at m.
func (a *wsActivity) stuckSince(m wsMark) bool {
	return m.reads%2 == 1 && a.reads.Load() == m.reads && a.last.Load() < m.at
}
