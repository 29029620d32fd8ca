package transport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// StreamFormat says how the body of an HTTPStream is cut into values.
type StreamFormat uint8

const (
	// FormatAuto reads any sequence of JSON values separated by
	// whitespace, by RS (0x1E), or by nothing at all where the values
	// delimit themselves: newline-delimited JSON, JSON values written back
	// to back, and RFC 7464 JSON text sequences alike. It is the default.
	FormatAuto StreamFormat = iota
	// FormatNDJSON reads one value per line: lines end in LF (a CR before
	// it is dropped), and a line of only whitespace is a heartbeat. A line
	// need not be JSON: one the decoder cannot read is delivered whole. A
	// last line without its LF when the body ends counts only when it is
	// valid JSON (otherwise it was most likely cut short).
	FormatNDJSON
	// FormatJSON reads JSON values one after another, with or without
	// whitespace between them (values written back to back, as
	// JSON.stringify output concatenated). An RS byte is malformed.
	FormatJSON
	// FormatJSONSeq reads RFC 7464 JSON text sequences: every value comes
	// after an RS byte, with optional whitespace (the LF that ends each
	// text) around it. A value without its RS is malformed.
	FormatJSONSeq
)

var streamFormatNames = [...]string{"auto", "ndjson", "json", "json-seq"}

// String returns the name ParseStreamFormat reads: "auto", "ndjson",
// "json" or "json-seq".
func (f StreamFormat) String() string {
	if int(f) < len(streamFormatNames) {
		return streamFormatNames[f]
	}
	return fmt.Sprintf("StreamFormat(%d)", uint8(f))
}

// ParseStreamFormat returns the format named s, as String writes it.
func ParseStreamFormat(s string) (StreamFormat, error) {
	for i, n := range streamFormatNames {
		if n == s {
			return StreamFormat(i), nil
		}
	}
	return 0, fmt.Errorf("transport: unknown stream format %q (want auto, ndjson, json or json-seq)", s)
}

// rs is the record separator that starts each text of an RFC 7464 JSON
// text sequence.
const rs = 0x1E

// errTruncated is the cause of a stream whose body ended in the middle of
// a value: the server closed it, or the connection broke, mid-write.
var errTruncated = errors.New("the body ended in the middle of a value")

// streamMinBuffer is the first size of a stream's read buffer, and its
// size for good when the message limit is smaller.
const streamMinBuffer = 8 << 10

// unitReader reads a body through a framer, one unit at a time, holding at
// most one unit's worth of it: a unit longer than limit fails with a
// *TooLargeError as soon as its first limit+1 bytes are in, without
// reading the rest.
type unitReader struct {
	body   io.Reader
	framer framer
	limit  int64
	buf    []byte
	r, w   int   // buf[r:w] is read but not consumed
	eof    bool  // the body has ended
	err    error // a read error, reported once the bytes before it are framed
	whole  bool  // with a *TooLargeError: the unit returned with it is complete
}

// next returns the next unit, which aliases the reader's buffer until the
// following call. With a *TooLargeError it returns the unit, or the start
// of it that was read.
func (u *unitReader) next() ([]byte, error) {
	for {
		if u.r < u.w || u.eof {
			// The framer looks at no more than limit+1 bytes of a unit at
			// first, so that what it finds there, and so how the stream
			// ends, does not depend on how the body was split into reads:
			// a unit without its end in them is too large, whatever follows.
			buf := u.buf[u.r:u.w]
			over := int64(len(buf))-1 > u.limit
			if over {
				buf = buf[:u.limit+1]
			}
			adv, unit, err := u.framer.frame(buf, u.eof && !over)
			switch {
			case err != nil:
				return nil, err
			case adv > 0:
				u.r += adv
				if unit == nil {
					continue
				}
				if int64(len(unit)) > u.limit {
					u.whole = true
					return unit, &TooLargeError{Size: int64(len(unit)), Limit: u.limit, What: "value"}
				}
				return unit, nil
			case over:
				return u.tooLarge()
			case u.eof:
				return nil, io.EOF
			}
		}
		if u.err != nil {
			return nil, u.err
		}
		if n := int64(u.w - u.r); n > u.limit {
			u.whole = false
			return u.buf[u.r:u.w], &TooLargeError{Size: n, Limit: u.limit, What: "value"}
		}
		u.room()
		n, err := u.body.Read(u.buf[u.w:])
		u.w += n
		switch {
		case err == io.EOF:
			u.eof = true
		case err != nil:
			u.err = err
		}
	}
}

// tooLarge fails the unit at the start of the buffer, of which the framer
// has seen limit+1 bytes without finding its end. When the rest of the
// buffer holds that end, the unit is returned whole, so that its id can be
// read; otherwise the bytes of it that were read are.
func (u *unitReader) tooLarge() ([]byte, error) {
	buf := u.buf[u.r:u.w]
	if adv, unit, err := u.framer.frame(buf, u.eof); err == nil && adv > 0 && unit != nil {
		u.r += adv
		u.whole = true
		return unit, &TooLargeError{Size: int64(len(unit)), Limit: u.limit, What: "value"}
	}
	u.whole = false
	return buf, &TooLargeError{Size: int64(len(buf)), Limit: u.limit, What: "value"}
}

// room makes space at the end of the buffer for a read: it moves what is
// not consumed to the front, and grows the buffer, doubling it up to one
// byte more than limit, when that is not enough.
func (u *unitReader) room() {
	if u.r == u.w {
		u.r, u.w = 0, 0
	}
	if u.w < len(u.buf) {
		return
	}
	if u.r > 0 {
		u.w = copy(u.buf, u.buf[u.r:u.w])
		u.r = 0
		if u.w < len(u.buf) {
			return
		}
	}
	most := streamMinBuffer
	if u.limit < math.MaxInt-1 {
		most = max(most, int(u.limit)+1)
	} else {
		most = math.MaxInt
	}
	size := min(max(2*len(u.buf), streamMinBuffer), most)
	grown := make([]byte, size)
	copy(grown, u.buf[:u.w])
	u.buf = grown
}

// framer cuts a body into units, each one JSON value (or whatever unit a
// custom split function makes), for the decoder.
type framer interface {
	// frame looks at buf, the bytes of the body not yet consumed, and
	// returns how many of them to consume (adv) and the unit they end
	// with (nil when they hold none: whitespace between values, a
	// heartbeat). adv == 0 with a nil error asks for more bytes; atEOF
	// says no more will come. Until a call returns adv > 0, every call
	// sees the bytes of the previous one at the start of buf, so a framer
	// may remember how far it has looked. unit aliases buf.
	frame(buf []byte, atEOF bool) (adv int, unit []byte, err error)
}

// newFramer returns the framer of format, or one calling split when it is
// not nil.
func newFramer(format StreamFormat, split bufio.SplitFunc) framer {
	switch {
	case split != nil:
		return &splitFramer{split: split}
	case format == FormatNDJSON:
		return &lineFramer{}
	}
	return &jsonFramer{format: format}
}

// jsonFramer finds where each JSON value of a body ends by following its
// structure (strings, escapes, nesting of objects and arrays, the extent of
// a bare number or literal) without checking the rest of the grammar: the
// decoder reads each value whole. It never looks at a byte twice, however
// the body is split into reads. Its memory besides the body is the stack
// of open brackets, one byte each.
type jsonFramer struct {
	format StreamFormat
	sawRS  bool // json-seq: an RS has come since the last value

	// The value being scanned; kind is 0 between values.
	kind  byte   // '{' or '[' (container), '"' (string), '0' (number), 't', 'f' or 'n' (literal)
	pos   int    // bytes of the value looked at so far
	stack []byte // closing brackets of the open containers, innermost last
	inStr bool   // inside a string of a container
	esc   bool   // after a backslash inside a string
	num   uint8  // where a number is in its grammar
}

// Places in the grammar of a JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// after the bytes read so far. A byte that cannot come next ends the
// number before it (numEnd), as it ends a number for encoding/json: "00"
// is two numbers. What ends up invalid ("1.", "-") is for the decoder to
// refuse.
const (
	numSign  uint8 = iota + 1 // after "-"
	numZero                   // after a leading 0
	numInt                    // in the digits of the integer part
	numDot                    // after "."
	numFrac                   // in the digits of the fraction
	numE                      // after "e" or "E"
	numESign                  // after the exponent's sign
	numExp                    // in the digits of the exponent
	numEnd                    // the byte does not belong to the number
)

// numberStart returns the place after c, the first byte of a number.
func numberStart(c byte) uint8 {
	switch c {
	case '-':
		return numSign
	case '0':
		return numZero
	}
	return numInt
}

// numberNext returns the place after c, read at place at.
func numberNext(at uint8, c byte) uint8 {
	digit := c >= '0' && c <= '9'
	switch at {
	case numSign:
		switch {
		case c == '0':
			return numZero
		case digit:
			return numInt
		}
	case numZero, numInt:
		switch {
		case digit && at == numInt:
			return numInt
		case c == '.':
			return numDot
		case c == 'e' || c == 'E':
			return numE
		}
	case numDot, numFrac:
		switch {
		case digit:
			return numFrac
		case at == numFrac && (c == 'e' || c == 'E'):
			return numE
		}
	case numE:
		switch {
		case c == '+' || c == '-':
			return numESign
		case digit:
			return numExp
		}
	case numESign, numExp:
		if digit {
			return numExp
		}
	}
	return numEnd
}

// frame implements framer.
func (f *jsonFramer) frame(buf []byte, atEOF bool) (int, []byte, error) {
	if f.kind == 0 {
		n, err := f.separators(buf)
		if err != nil || n > 0 {
			return n, nil, err
		}
		if len(buf) == 0 {
			return 0, nil, nil
		}
		if err := f.start(buf[0]); err != nil {
			return 0, nil, err
		}
	}
	end, err := f.scan(buf, atEOF)
	switch {
	case err != nil:
		return 0, nil, err
	case end < 0 && atEOF:
		return 0, nil, fmt.Errorf("%w (%d bytes of it)", errTruncated, len(buf))
	case end < 0:
		return 0, nil, nil
	}
	f.kind, f.pos, f.stack = 0, 0, f.stack[:0]
	return end, buf[:end], nil
}

// separators returns how many bytes at the start of buf separate values:
// JSON whitespace, and RS unless the format is FormatJSON.
func (f *jsonFramer) separators(buf []byte) (int, error) {
	for i, c := range buf {
		switch c {
		case ' ', '\t', '\n', '\r':
		case rs:
			if f.format == FormatJSON {
				return i, fmt.Errorf("%w: RS byte between JSON values (is the stream json-seq?)", ErrMalformed)
			}
			f.sawRS = true
		default:
			return i, nil
		}
	}
	return len(buf), nil
}

// start begins the value whose first byte is c.
func (f *jsonFramer) start(c byte) error {
	if f.format == FormatJSONSeq && !f.sawRS {
		return fmt.Errorf("%w: a JSON text without the RS that must come before it", ErrMalformed)
	}
	f.sawRS = false
	switch {
	case c == '{':
		f.stack = append(f.stack, '}')
	case c == '[':
		f.stack = append(f.stack, ']')
	case c == '"', c == 't', c == 'f', c == 'n':
	case c == '-' || c >= '0' && c <= '9':
		c = '0'
	default:
		return fmt.Errorf("%w: byte %q where a JSON value should start", ErrMalformed, c)
	}
	f.kind, f.pos = c, 1
	return nil
}

// scan goes on looking at the value that starts buf, and returns where it
// ends (one past its last byte), or -1 when it goes on past buf.
func (f *jsonFramer) scan(buf []byte, atEOF bool) (int, error) {
	switch f.kind {
	case '{', '[':
		return f.container(buf)
	case '"':
		f.inStr = true
		end, err := f.container(buf)
		if end >= 0 {
			f.inStr = false
		}
		return end, err
	case '0':
		if f.pos == 1 {
			f.num = numberStart(buf[0])
		}
		for i := f.pos; i < len(buf); i++ {
			if f.num = numberNext(f.num, buf[i]); f.num == numEnd {
				return i, nil
			}
		}
		f.pos = len(buf)
		if atEOF {
			return len(buf), nil // a number ends where the body does
		}
		return -1, nil
	}
	word := jsonLiteral(f.kind)
	for ; f.pos < len(word) && f.pos < len(buf); f.pos++ {
		if buf[f.pos] != word[f.pos] {
			return 0, fmt.Errorf("%w: byte %q in what should be %s", ErrMalformed, buf[f.pos], word)
		}
	}
	if f.pos == len(word) {
		return len(word), nil
	}
	return -1, nil
}

// jsonLiteral returns the literal that starts with c: true, false or null.
func jsonLiteral(c byte) string {
	switch c {
	case 't':
		return "true"
	case 'f':
		return "false"
	}
	return "null"
}

// container scans an object, array or top-level string from f.pos. An RS
// or any other control byte inside a string, or an RS anywhere in the
// value, is malformed: JSON allows neither, and both mostly mean that the
// value was cut short and the next one begins.
func (f *jsonFramer) container(buf []byte) (int, error) {
	i := f.pos
	for i < len(buf) {
		if f.inStr {
			if f.esc {
				f.esc = false
				i++
				continue
			}
			// Runs of bytes that change nothing first: one look-up each.
			for i < len(buf) && framePlainInString[buf[i]] {
				i++
			}
			if i == len(buf) {
				break
			}
			switch c := buf[i]; c {
			case '\\':
				f.esc = true
			case '"':
				f.inStr = false
				if len(f.stack) == 0 {
					return i + 1, nil // a top-level string
				}
			default:
				return 0, fmt.Errorf("%w: control byte %q inside a JSON string (a value cut short?)", ErrMalformed, c)
			}
			i++
			continue
		}
		for i < len(buf) && framePlainOutside[buf[i]] {
			i++
		}
		if i == len(buf) {
			break
		}
		switch c := buf[i]; c {
		case '"':
			f.inStr = true
		case '{':
			f.stack = append(f.stack, '}')
		case '[':
			f.stack = append(f.stack, ']')
		case '}', ']':
			top := len(f.stack) - 1
			if f.stack[top] != c {
				return 0, fmt.Errorf("%w: %q closes a %q", ErrMalformed, c, opening(f.stack[top]))
			}
			f.stack = f.stack[:top]
			if top == 0 {
				return i + 1, nil
			}
		default: // rs
			return 0, fmt.Errorf("%w: RS byte inside a JSON value (a value cut short?)", ErrMalformed)
		}
		i++
	}
	f.pos = i
	return -1, nil
}

// framePlainInString marks the bytes that change nothing for the framer
// inside a string: all but the quote, the backslash and control bytes.
// framePlainOutside marks those that change nothing outside strings: all
// but quotes, brackets and RS.
var framePlainInString, framePlainOutside = func() (in, out [256]bool) {
	for c := range 256 {
		in[c] = c >= 0x20 && c != '"' && c != '\\'
		out[c] = !strings.ContainsRune("\"{}[]\x1e", rune(c))
	}
	return in, out
}()

func opening(closing byte) byte {
	if closing == '}' {
		return '{'
	}
	return '['
}

// lineFramer cuts a body into lines (FormatNDJSON). A unit is a line
// without its line end and surrounding whitespace; a blank line is none.
type lineFramer struct {
	pos int // bytes of the current line looked at so far
}

// frame implements framer.
func (f *lineFramer) frame(buf []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(buf[f.pos:], '\n'); i >= 0 {
		end := f.pos + i
		f.pos = 0
		return end + 1, nonEmpty(trimJSONSpace(buf[:end])), nil
	}
	f.pos = len(buf)
	if !atEOF || len(buf) == 0 {
		return 0, nil, nil
	}
	f.pos = 0
	line := trimJSONSpace(buf)
	if len(line) > 0 && !json.Valid(line) {
		return 0, nil, fmt.Errorf("%w (%d bytes of a line without its end)", errTruncated, len(buf))
	}
	return len(buf), nonEmpty(line), nil
}

// trimJSONSpace removes JSON whitespace from both ends of b.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// nonEmpty returns b, or nil when it is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// splitFramer cuts a body with a bufio.SplitFunc (HTTPStream.Split). An
// empty token is a heartbeat; bufio.ErrFinalToken ends the body after its
// token, as the server closing it would.
type splitFramer struct {
	split bufio.SplitFunc
	final bool
}

// frame implements framer.
func (f *splitFramer) frame(buf []byte, atEOF bool) (int, []byte, error) {
	if f.final {
		return 0, nil, io.EOF
	}
	adv, tok, err := f.split(buf, atEOF)
	switch {
	case errors.Is(err, bufio.ErrFinalToken):
		f.final = true
		if adv == 0 && len(tok) == 0 {
			return 0, nil, io.EOF
		}
	case err != nil:
		return 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if adv < 0 || adv > len(buf) {
		return 0, nil, fmt.Errorf("%w: split function advanced %d bytes of %d", ErrMalformed, adv, len(buf))
	}
	if adv == 0 && tok != nil {
		// A token that consumes nothing would be returned for ever.
		return 0, nil, fmt.Errorf("%w: split function returned a token without advancing", ErrMalformed)
	}
	if atEOF && adv == 0 && len(trimJSONSpace(buf)) > 0 {
		return 0, nil, fmt.Errorf("%w (%d bytes the split function left)", errTruncated, len(buf))
	}
	return adv, nonEmpty(tok), nil
}
