package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// errBodyTooLarge is returned by decodeReader when the body is longer than
// its limit.
var errBodyTooLarge = errors.New("body over the limit")

// bodyScratch is what decodeReader needs between two reads: the read
// buffer and the decoder's scratch. It is pooled between responses, so that
// a subscription between two polls holds none of it.
type bodyScratch struct {
	buf   []byte
	spans []envSpan
	ids   []byte
}

var bodyScratches = sync.Pool{New: func() any { return &bodyScratch{buf: make([]byte, 0, 16<<10)} }}

// bodyBufKeep is the largest read buffer put back in the pool: one grown
// for a huge message is left to the garbage collector.
const bodyBufKeep = 256 << 10

// decodeReader decodes a body read from r exactly as decode decodes the
// whole of it (the same messages, the same errors), but decodes a JSON
// array, the usual body, as it is read: each time a read brings whole
// messages they are decoded and copied out, and the buffer keeps only the
// message under way. So the body is never held whole, nor scanned twice;
// the memory it needs is bounded by the largest message plus a read. A
// body that is not an array (an object, null, nothing) is read whole and
// handed to decode. A body longer than limit bytes fails with
// errBodyTooLarge. The messages of a body that turns out malformed are
// dropped: as with decode, a body is all or nothing.
func (d *envDecoder) decodeReader(r io.Reader, limit int64) ([]Message, error) {
	sc := bodyScratches.Get().(*bodyScratch)
	d.spans, d.ids = sc.spans[:0], sc.ids[:0]
	defer func() {
		sc.spans, sc.ids = d.spans[:0], d.ids[:0]
		d.spans, d.ids = nil, nil
		if cap(sc.buf) <= bodyBufKeep {
			bodyScratches.Put(sc)
		}
	}()
	a := arrayDecoder{d: d, r: r, limit: limit, buf: sc.buf[:0]}
	msgs, err := a.run()
	if errors.Is(err, ErrMalformed) {
		// As with decode, a body over the limit is that before it is
		// malformed: read on to find out.
		for !a.eof {
			a.buf = a.buf[:0]
			if ferr := a.fill(); ferr != nil {
				err = ferr
				break
			}
		}
	}
	sc.buf = a.buf[:0]
	return msgs, err
}

// arrayDecoder is the state of one decodeReader call.
type arrayDecoder struct {
	d     *envDecoder
	r     io.Reader
	limit int64
	read  int64 // bytes read so far
	buf   []byte
	eof   bool
	msgs  []Message
	n     int // elements seen, for error messages

	onParse func() // called by each elements call, for tests
}

// fill reads once more into buf, growing it when it is nearly full.
func (a *arrayDecoder) fill() error {
	if a.eof {
		return io.ErrUnexpectedEOF // callers check eof first
	}
	if cap(a.buf)-len(a.buf) < 4<<10 {
		grown := make([]byte, len(a.buf), max(2*cap(a.buf), len(a.buf)+16<<10))
		copy(grown, a.buf)
		a.buf = grown
	}
	n, err := a.r.Read(a.buf[len(a.buf):cap(a.buf)])
	a.buf = a.buf[:len(a.buf)+n]
	a.read += int64(n)
	if a.read > a.limit {
		return errBodyTooLarge
	}
	switch {
	case errors.Is(err, io.EOF):
		a.eof = true
	case err != nil:
		return err
	}
	return nil
}

// whole reads the rest of the body and decodes buf as decode does.
func (a *arrayDecoder) whole() ([]Message, error) {
	for !a.eof {
		if err := a.fill(); err != nil {
			return nil, err
		}
	}
	return a.d.decode(nil, a.buf)
}

func (a *arrayDecoder) run() ([]Message, error) {
	// The first byte that is not JSON whitespace says whether the body is
	// an array.
	for {
		p := jsonParser{b: a.buf}
		p.ws()
		i := p.i
		if i < len(a.buf) {
			if a.buf[i] != '[' {
				return a.whole()
			}
			a.buf = a.buf[:copy(a.buf, a.buf[i+1:])]
			break
		}
		if a.eof {
			return a.whole()
		}
		a.buf = a.buf[:0]
		if err := a.fill(); err != nil {
			return nil, err
		}
	}
	// Inside the array: elements, each followed by a comma or the end.
	first := true
	for {
		done, err := a.elements(&first)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if a.eof {
			return nil, fmt.Errorf("%w: unexpected end of JSON input in a list", ErrMalformed)
		}
		// What is left is the start of an element. It is parsed again
		// only once it has doubled (or the body has ended), so that a
		// message arriving a few bytes per read costs a bounded number of
		// parses, not one per read.
		want := 2 * len(a.buf)
		for {
			if err := a.fill(); err != nil {
				return nil, err
			}
			if a.eof || len(a.buf) >= want {
				break
			}
		}
	}
	// After the array, nothing but white space, as decode trims it.
	for !a.eof {
		if err := a.fill(); err != nil {
			return nil, err
		}
	}
	if rest := bytes.TrimSpace(a.buf); len(rest) > 0 {
		// decode trims Unicode white space from the whole body, then
		// allows only JSON white space after the value.
		p := jsonParser{b: rest, base: a.read - int64(len(rest))}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, p.fail("after the top-level value"))
	}
	return a.msgs, nil
}

// elements decodes the whole elements at the start of buf, each with the
// comma or bracket after it, builds their messages, and keeps in buf only
// what follows them. It reports done once the closing bracket has been
// read; buf then holds what followed it. first is true until an element or
// the closing bracket has been read.
func (a *arrayDecoder) elements(first *bool) (done bool, err error) {
	if a.onParse != nil {
		a.onParse()
	}
	d := a.d
	// Inside the array, as decode counts nesting; offsets in errors count
	// from the start of the body.
	d.p = jsonParser{b: a.buf, depth: 1, base: a.read - int64(len(a.buf))}
	d.spans = d.spans[:0]
	p := &d.p
	kept := 0 // offset after the last whole element and its separator
	// A parse that stopped at the end of buf with an error may only lack
	// bytes still to come.
	incomplete := func(err error) bool { return err != nil && p.i >= len(p.b) && !a.eof }
scan:
	for {
		p.ws()
		if *first && p.peek() == ']' {
			p.i++
			kept, done = p.i, true
			break
		}
		if p.i >= len(p.b) {
			break // the next element has not arrived
		}
		e := noSpan()
		var err error
		switch p.peek() {
		case '{':
			err = d.envelope(&e, false)
		case 'n':
			err = p.literal("null")
		default:
			if _, _, err = p.value(); err == nil {
				// An error either way, as in list.
				return false, fmt.Errorf("%w: message %d is not an object", ErrMalformed, a.n)
			}
		}
		switch {
		case incomplete(err):
			break scan
		case err != nil:
			return false, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		p.ws()
		if p.i >= len(p.b) {
			break // its separator has not arrived: read it again with it
		}
		switch p.peek() {
		case ',':
		case ']':
			done = true
		default:
			return false, fmt.Errorf("%w: %v", ErrMalformed, p.fail("in a list"))
		}
		p.i++
		d.spans = append(d.spans, e)
		a.n++
		*first = false
		kept = p.i
		if done {
			break
		}
	}
	if len(d.spans) > 0 {
		if a.msgs, err = d.build(a.msgs, a.buf); err != nil {
			return false, err
		}
	}
	a.buf = a.buf[:copy(a.buf, a.buf[kept:])]
	return done, nil
}
