package transport

import (
	"bytes"
	"io"
	"sync/atomic"
	"time"
)

// sseTap sits between an SSE response body and the go-sse parser. It watches
// the raw bytes for what the parser does not expose: signs of life, the
// retry field, and which blocks go-sse dispatches without a data field (see
// sseFieldScanner); and it hands the parser a stream it cannot misread at
// the start (see readLead).
//
// Liveness: while a Read is blocked on the body, an idle timer runs; when it
// fires, the tap records the stalled verdict and calls kill, which cancels
// the request so that the blocked Read returns. The timer runs only inside
// Read, so time during which nobody asks for bytes (the subscriber applying
// back-pressure) never counts, and any byte at all, a comment line included,
// counts as life.
//
// Read is called only by the parser, which runs inside the stream's Next or
// Push, so it never runs concurrently with itself or with the stream's Close;
// the stream's consumer reads fields between two Reads only.
type sseTap struct {
	body  io.Reader
	idle  time.Duration // Interval+Timeout; zero disables liveness
	kill  func()        // cancels the request; called at most once
	timer *time.Timer   // created on the first Read with liveness on
	fired chan struct{} // closed once the timer's function has returned

	lead    uint8 // how far the start of the body has been handed over
	held    byte  // with leadHeld: the body's first byte, still to hand over
	heldErr error // with leadHeld: the error of the Read that got it

	stalled atomic.Bool
	fields  sseFieldScanner

	notify func() // see ReadNotifier; runs before each read of the body
}

// States of sseTap.lead.
const (
	leadAwaited uint8 = iota // no byte of the body has been read yet
	leadHeld                 // a colon went out in place of held, which is next
	leadDone                 // the body's bytes go through as they come
)

func newSSETap(body io.Reader, hb Heartbeat, kill func()) *sseTap {
	t := &sseTap{body: body, kill: kill, fired: make(chan struct{})}
	if hb.Enabled() {
		t.idle = hb.Interval + hb.Timeout
	}
	return t
}

// Read reads from the body for the parser.
func (t *sseTap) Read(p []byte) (int, error) {
	if t.lead != leadDone {
		return t.readLead(p)
	}
	return t.read(p)
}

// read reads from the body with the idle timer armed, and feeds what arrived
// to the field scanner.
func (t *sseTap) read(p []byte) (int, error) {
	if t.stalled.Load() {
		return 0, ErrStalled
	}
	if t.notify != nil {
		t.notify()
	}
	t.arm()
	n, err := t.body.Read(p)
	t.disarm()
	t.fields.scan(p[:n])
	return n, err
}

// readLead reads the first bytes of the body, working around go-sse's
// reading of the stream's start: its parser drops the blank lines that open
// the stream before it looks for a byte order mark, so a mark right after
// them would be dropped too, where the WHATWG rules drop one only as the
// very first bytes (after blank lines it is part of a field name, and that
// line is ignored). When the body starts with a line end, the parser is
// handed a colon before it: the blank first line becomes a comment line,
// which means the same (a blank line that ends an empty block dispatches
// nothing and clears nothing that was set) and leaves the parser no blank
// line to skip, so it looks for a mark at the very start only. The field
// scanner sees the body as it came.
func (t *sseTap) readLead(p []byte) (int, error) {
	switch {
	case len(p) == 0:
		return 0, nil
	case t.lead == leadHeld:
		p[0], t.lead = t.held, leadDone
		err := t.heldErr
		t.heldErr = nil
		return 1, err
	}
	room := p
	if len(p) > 1 {
		room = p[:len(p)-1] // leave space for the colon
	}
	n, err := t.read(room)
	switch {
	case n == 0:
		return 0, err
	case p[0] != '\n' && p[0] != '\r':
		t.lead = leadDone
		return n, err
	case n == len(p): // a one-byte p: the line end waits for the next Read
		t.held, t.heldErr, t.lead = p[0], err, leadHeld
		p[0] = ':'
		return 1, nil
	}
	copy(p[1:n+1], p[:n])
	p[0], t.lead = ':', leadDone
	return n + 1, err
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

// States of sseFieldScanner within a line.
const (
	lineName   uint8 = iota // matching a field name (at the line's start while matched is 0)
	lineRetry               // after "retry:": an optional space, then digits
	lineDigits              // reading retry's digits
	lineID                  // in an id's value, which must not hold U+0000
	lineSkip                // nothing in the rest of the line matters
)

// sseFieldScanner follows the WHATWG event stream through a byte stream that
// may be split anywhere, for what go-sse's parser does not tell:
//
//   - The retry field: the last value that was ASCII digits only, with one
//     leading space removed (a value of anything else is ignored).
//   - Which blocks go-sse dispatches although the WHATWG rules do not. At a
//     blank line, go-sse yields an event when the block had a data or event
//     field or an id field without U+0000, where the rules dispatch one only
//     when the data buffer is not empty, that is when the block had a data
//     field (even an empty one). Both parsers see the same lines and blocks,
//     so the scanner numbers the blocks go-sse dispatches and keeps the
//     numbers of those without a data field, for the stream to drop (see
//     dataless). go-sse still applies such a block's id to the events that
//     follow, as the rules do.
//
// Lines end in CR, LF or CRLF, one line end; a line without an end yet has
// no effect. A line's field name is what precedes its first colon, or the
// whole line, matched whole and case-sensitively; a line starting with a
// colon is a comment. A UTF-8 byte order mark at the very start of the
// stream is skipped.
//
// The scanner keeps a fixed handful of counters and no copy of the line. The
// only memory that depends on the input is the list of blocks without data,
// which is empty whenever the parser reads again: go-sse yields every event
// of the bytes it holds before it asks for more, and the stream asks about
// each.
type sseFieldScanner struct {
	state   uint8
	name    string // the field name that the line's first byte points to
	matched uint8  // bytes of name matched so far
	digits  bool   // retry's value has at least one digit
	bom     uint8  // byte order mark bytes matched at the start
	started bool   // past the place where a byte order mark may be
	cr      bool   // the last byte was a CR: an LF now is part of its line end
	value   int64  // retry's value so far, capped at sseMaxRetry

	dirty  bool     // the block has a field that makes go-sse dispatch it
	data   bool     // the block has a data field
	blocks uint64   // blocks go-sse has dispatched or will, counted from 1
	noData []uint64 // numbers of those without a data field, from next on
	next   int

	hint    int64 // the last valid retry value, in milliseconds
	hasHint bool
}

const sseBOM = "\xEF\xBB\xBF"

// sseFieldName returns the field name that a line starting with b may have:
// each of data, event, id and retry starts with a letter of its own.
func sseFieldName(b byte) string {
	switch b {
	case 'd':
		return "data"
	case 'e':
		return "event"
	case 'i':
		return "id"
	case 'r':
		return "retry"
	}
	return ""
}

// scan feeds the next bytes of the stream to the scanner.
func (s *sseFieldScanner) scan(p []byte) {
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
				s.state = lineSkip
			}
		}
		switch b {
		case '\n':
			if s.cr { // the LF of a CRLF
				s.cr = false
				continue
			}
			s.endLine()
			continue
		case '\r':
			s.cr = true
			s.endLine()
			continue
		}
		s.cr = false
		switch s.state {
		case lineName:
			if s.matched == 0 {
				i = s.lineStart(p, i)
				continue
			}
			switch {
			case int(s.matched) < len(s.name) && b == s.name[s.matched]:
				s.matched++
				continue
			case int(s.matched) == len(s.name) && b == ':':
				i = s.colon(p, i)
				continue
			}
			s.state = lineSkip
			i = skipLine(p, i)
		case lineRetry:
			s.state = lineDigits
			if b != ' ' {
				s.digit(b)
			}
		case lineDigits:
			s.digit(b)
		case lineID:
			i = s.idValue(p, i)
		case lineSkip:
			i = skipLine(p, i)
		}
	}
}

// skipLine returns where scan goes on to reach the end of the line that p[i]
// is part of: just before it, or the end of p when the line goes on.
func skipLine(p []byte, i int) int {
	j := lineEnd(p[i:])
	if j < 0 {
		return len(p)
	}
	return i + j - 1
}

// lineStart acts on p[i], the first byte of a line and not a line end, and
// returns where scan goes on from (the loop moves one past it). When the
// whole field name and the byte after it are in p, as they mostly are, the
// name is matched at once; otherwise byte by byte, across scans.
func (s *sseFieldScanner) lineStart(p []byte, i int) int {
	name := sseFieldName(p[i])
	if name == "" {
		s.state = lineSkip
		return skipLine(p, i)
	}
	s.name = name
	k := i + len(name)
	if k >= len(p) {
		s.matched = 1
		return i
	}
	if string(p[i:k]) == name {
		switch p[k] {
		case ':':
			return s.colon(p, k)
		case '\n', '\r':
			s.matched = uint8(len(name))
			return k - 1 // the line end comes next
		}
	}
	s.state = lineSkip
	return skipLine(p, i)
}

// colon acts on the colon at p[k] after a known field name, and returns
// where scan goes on from (the loop moves one past it).
func (s *sseFieldScanner) colon(p []byte, k int) int {
	switch s.name {
	case "data":
		s.data, s.dirty = true, true
	case "event":
		s.dirty = true
	case "id":
		s.state = lineID
		return s.idValue(p, k+1)
	default:
		s.state = lineRetry
		return k
	}
	s.state = lineSkip
	return skipLine(p, k+1)
}

// idValue follows an id's value from p[i] on, and returns where scan goes
// on from (the loop moves one past it). An id holding U+0000 is ignored.
// Ids are short: a plain loop beats searching for three bytes.
func (s *sseFieldScanner) idValue(p []byte, i int) int {
	for ; i < len(p); i++ {
		switch p[i] {
		case '\n', '\r':
			return i - 1
		case 0:
			s.state = lineSkip
			return skipLine(p, i)
		}
	}
	return i
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

func (s *sseFieldScanner) digit(b byte) {
	if b < '0' || b > '9' {
		s.state = lineSkip
		return
	}
	s.digits = true
	s.value = min(s.value*10+int64(b-'0'), sseMaxRetry)
}

func (s *sseFieldScanner) endLine() {
	switch s.state {
	case lineName:
		switch {
		case s.matched == 0:
			s.endBlock()
			return
		case int(s.matched) == len(s.name) && s.name != "retry":
			// A known name without a colon: the field's value is empty,
			// which is no retry value but a valid data, event or id.
			s.dirty = true
			s.data = s.data || s.name == "data"
		}
	case lineDigits:
		if s.digits {
			s.hint, s.hasHint = s.value, true
		}
	case lineID:
		s.dirty = true
	}
	s.state, s.matched, s.digits, s.value = lineName, 0, false, 0
}

// endBlock acts on a blank line, which ends a block.
func (s *sseFieldScanner) endBlock() {
	if s.dirty {
		s.blocks++
		if !s.data {
			if s.next == len(s.noData) {
				s.noData, s.next = s.noData[:0], 0
			}
			s.noData = append(s.noData, s.blocks)
		}
	}
	s.dirty, s.data = false, false
}

// dataless reports whether go-sse's event number n (counting from 1) comes
// from a block without a data field, which the WHATWG rules do not dispatch.
// The stream asks for every event, in order.
func (s *sseFieldScanner) dataless(n uint64) bool {
	if s.next < len(s.noData) && s.noData[s.next] == n {
		s.next++
		return true
	}
	return false
}

// latest returns the last retry hint seen, if any.
func (s *sseFieldScanner) latest() (time.Duration, bool) {
	return time.Duration(s.hint) * time.Millisecond, s.hasHint
}
