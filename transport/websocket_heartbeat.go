package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// heartbeat pings the peer after Interval without inbound frames and cuts
// the connection when a pong that the reader was in a position to see did
// not come within Timeout. It exits when ctx ends (Close, or the stream
// finished) or after its verdict.
func (s *wsStream) heartbeat(ctx context.Context) {
	defer close(s.hbDone)
	t := time.NewTimer(s.hb.Interval)
	defer t.Stop()
	var lastPing int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if wait := s.untilPing(lastPing); wait > 0 {
			t.Reset(wait)
			continue
		}
		lastPing = s.act.now()
		switch s.ping(ctx, lastPing) {
		case pingDead:
			s.stall()
			return
		case pingGone:
			return
		}
		t.Reset(s.hb.Interval)
	}
}

// untilPing is how long to wait before the next ping: Interval after the
// later of the last inbound frame and the last ping.
func (s *wsStream) untilPing(lastPing int64) time.Duration {
	since := max(s.act.last.Load(), lastPing)
	return time.Duration(since + int64(s.hb.Interval) - s.act.now())
}

type pingResult int

const (
	pingOK           pingResult = iota // pong received
	pingInconclusive                   // no pong, but nobody was reading to see it
	pingDead                           // no pong although a reader waited all along
	pingGone                           // the connection or the heartbeat is over
)

// ping sends one ping, sent being the time just before it, and judges the
// outcome. coder/websocket only notices a pong while some goroutine is
// reading, and under back-pressure nobody is: a missing pong is then no
// evidence against the peer.
func (s *wsStream) ping(ctx context.Context, sent int64) pingResult {
	pctx, cancel := context.WithTimeout(ctx, s.hb.Timeout)
	defer cancel()
	err := s.conn.Ping(pctx)
	switch {
	case err == nil:
		return pingOK
	case ctx.Err() != nil, !errors.Is(err, context.DeadlineExceeded):
		return pingGone
	case s.act.readerStuckSince(sent):
		return pingDead
	}
	return pingInconclusive
}

// stall ends the stream with ErrStalled and closes the connection so that the
// blocked read returns.
func (s *wsStream) stall() {
	s.cancel(fmt.Errorf("%w: no pong within %v", ErrStalled, s.hb.Timeout))
	_ = s.conn.CloseNow()
}

// wsActivity is what the heartbeat needs to know about the reader. Times are
// monotonic nanoseconds since epoch, plus one so that zero means "never".
type wsActivity struct {
	epoch   time.Time
	reading atomic.Int64 // when the current read began; 0 when none is under way
	last    atomic.Int64 // when a frame or frame bytes last arrived
}

func newWSActivity() *wsActivity {
	a := &wsActivity{epoch: time.Now()}
	a.inbound()
	return a
}

func (a *wsActivity) now() int64 { return int64(time.Since(a.epoch)) + 1 }

// inbound records that the peer just sent something.
func (a *wsActivity) inbound() { a.last.Store(a.now()) }

// readerStuckSince reports whether a read began at or before t, is still
// under way, and nothing arrived since t: the reader would have seen a pong
// sent in answer to a ping sent at t.
func (a *wsActivity) readerStuckSince(t int64) bool {
	r := a.reading.Load()
	return r != 0 && r <= t && a.last.Load() < t
}

// activityReader passes a message body through, recording every chunk as
// inbound activity, so that a large frame arriving slowly is not taken for
// silence.
type activityReader struct {
	r   io.Reader
	act *wsActivity
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.act.inbound()
	}
	return n, err
}
