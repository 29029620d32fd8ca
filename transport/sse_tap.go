package transport

import (
	"bytes"
	"io"
	"sync/atomic"
	"time"
)

// sseTap sits between an SSE response body and the go-sse parser and watches
// the raw bytes for the two things the parser does not expose: signs of life
// and the retry field.
//
// Liveness: while a Read is blocked on the body, an idle timer runs; when it
// fires, the tap records the stalled verdict and calls kill, which cancels
// the request so that the blocked Read returns. The timer runs only inside
// Read, so time during which nobody asks for bytes (the subscriber applying
// back-pressure) never counts, and any byte at all, a comment line included,
// counts as life.
//
// Read is called only by the parser, which runs inside the stream's Next or
// Push, so it never runs concurrently with itself or with the stream's Close.
type sseTap struct {
	body  io.Reader
	idle  time.Duration // Interval+Timeout; zero disables liveness
	kill  func()        // cancels the request; called at most once
	timer *time.Timer   // created on the first Read with liveness on
	fired chan struct{} // closed once the timer's function has returned

	stalled atomic.Bool
	retry   sseRetryScanner
}

func newSSETap(body io.Reader, hb Heartbeat, kill func()) *sseTap {
	t := &sseTap{body: body, kill: kill, fired: make(chan struct{})}
	if hb.Enabled() {
		t.idle = hb.Interval + hb.Timeout
	}
	return t
}

// Read reads from the body with the idle timer armed, and feeds what arrived
// to the retry scanner.
func (t *sseTap) Read(p []byte) (int, error) {
	if t.stalled.Load() {
		return 0, ErrStalled
	}
	t.arm()
	n, err := t.body.Read(p)
	t.disarm()
	t.retry.scan(p[:n])
	return n, err
}

func (t *sseTap) arm() {
	switch {
	case t.idle <= 0:
	case t.timer == nil:
		t.timer = time.AfterFunc(t.idle, t.fire)
	default:
		t.timer.Reset(t.idle)
	}
}

// disarm stops the timer armed by the current Read. If it has already fired,
// disarm waits until its function has returned, so the verdict is recorded
// before Read returns and no timer goroutine outlives the Read.
func (t *sseTap) disarm() {
	if t.timer != nil && !t.timer.Stop() {
		<-t.fired
	}
}

// fire runs at most once: after it, stalled is set and Read no longer arms.
func (t *sseTap) fire() {
	t.stalled.Store(true)
	t.kill()
	close(t.fired)
}

// halt stops the timer for good. It must not run concurrently with Read.
func (t *sseTap) halt() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

// sseMaxRetry caps a retry hint: one year, as for Retry-After.
const sseMaxRetry = int64(365 * 24 * time.Hour / time.Millisecond)

// States of sseRetryScanner within a line.
const (
	retryName   uint8 = iota // matching the field name "retry"
	retryColon               // after the colon: an optional space, then digits
	retryDigits              // reading the value's digits
	retrySkip                // this line is not a valid retry field
)

// sseRetryScanner follows the retry field through a byte stream that may be
// split anywhere. Per the WHATWG event stream rules, a line is "retry",
// optionally followed by a colon and a value with one leading space removed;
// the value must be one or more ASCII digits, otherwise the line is ignored.
// Lines end in CR, LF or CRLF (a CRLF looks like a line and an empty line to
// the scanner, which does not matter to the retry field), and a line without
// an end yet has no effect. A UTF-8 byte order mark at the start of the stream
// is skipped.
//
// The scanner keeps a fixed handful of counters and no copy of the line, so
// its memory does not depend on the input.
type sseRetryScanner struct {
	state   uint8
	matched uint8 // bytes of "retry" matched so far
	digits  bool  // the value has at least one digit
	bom     uint8 // byte order mark bytes matched at the start
	started bool  // past the place where a byte order mark may be
	value   int64 // the line's value so far, capped at sseMaxRetry

	hint    int64 // the last valid retry value, in milliseconds
	hasHint bool
}

const sseBOM = "\xEF\xBB\xBF"

// scan feeds the next bytes of the stream to the scanner.
func (s *sseRetryScanner) scan(p []byte) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		if !s.started {
			if b == sseBOM[s.bom] {
				s.bom++
				s.started = int(s.bom) == len(sseBOM)
				continue
			}
			s.started = true
			if s.bom > 0 { // part of a byte order mark begins the first line
				s.state = retrySkip
			}
		}
		if b == '\n' || b == '\r' {
			s.endLine()
			continue
		}
		switch s.state {
		case retryName:
			switch {
			case s.matched < 5 && b == "retry"[s.matched]:
				s.matched++
			case s.matched == 5 && b == ':':
				s.state = retryColon
			default:
				s.state = retrySkip
			}
		case retryColon:
			s.state = retryDigits
			if b != ' ' {
				s.digit(b)
			}
		case retryDigits:
			s.digit(b)
		case retrySkip:
			// Jump to the end of the line; the loop's i++ then lands on it.
			j := lineEnd(p[i:])
			if j < 0 {
				return
			}
			i += j - 1
		}
	}
}

// lineEnd returns the index of the first CR or LF in p, or -1. Two
// IndexByte scans (vectorised) beat one IndexAny, which goes byte by byte.
func lineEnd(p []byte) int {
	n := bytes.IndexByte(p, '\n')
	before := p
	if n >= 0 {
		before = p[:n]
	}
	if r := bytes.IndexByte(before, '\r'); r >= 0 {
		return r
	}
	return n
}

func (s *sseRetryScanner) digit(b byte) {
	if b < '0' || b > '9' {
		s.state = retrySkip
		return
	}
	s.digits = true
	s.value = min(s.value*10+int64(b-'0'), sseMaxRetry)
}

func (s *sseRetryScanner) endLine() {
	if s.state == retryDigits && s.digits {
		s.hint, s.hasHint = s.value, true
	}
	s.state, s.matched, s.digits, s.value = retryName, 0, false, 0
}

// latest returns the last retry hint seen, if any.
func (s *sseRetryScanner) latest() (time.Duration, bool) {
	return time.Duration(s.hint) * time.Millisecond, s.hasHint
}
