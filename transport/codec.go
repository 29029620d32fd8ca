package transport

import (
	"bytes"
	"errors"
	"fmt"
)

// Decoder turns one unit of what a server sends into messages: a poll or
// long-poll response body, a WebSocket frame, or the data of an SSE event
// that carries no id field. It is the one place where a message's id, event
// and data are found, whatever the transport (see Fields for a Decoder built
// from field paths).
//
// It returns an error for input it cannot read. A poll transport wraps that
// error as a transient *Error with ErrMalformed; a WebSocket frame or SSE
// event that fails to decode is delivered whole, without id, so that nothing
// is lost. The returned messages must not alias body, which the transport
// may reuse. A Decoder may be called from several goroutines at once.
type Decoder func(body []byte) ([]Message, error)

// DecodeJSON is the default Decoder: a JSON array of message objects, an
// object with a "messages" array, or a single message object. An empty body,
// null, an empty list or "messages": null yields no messages.
//
// It reads a body exactly as encoding/json would decode it into message
// structs (field names match case-insensitively, the last of repeated fields
// wins, unknown fields are skipped, the whole body must be valid JSON), but
// with a scanner of its own that allocates once for all the data of a body
// and once for all its ids, instead of several times per message.
func DecodeJSON(body []byte) ([]Message, error) {
	var d envDecoder
	return d.decode(nil, body)
}

// decodeFrame decodes a WebSocket frame with DecodeJSON, falling back to one
// message without id whose Data is the whole frame when the frame is not an
// envelope: not JSON, an empty batch, or an object with none of id, event
// and data (such as {"price":3} from a server that sends bare values).
func decodeFrame(frame []byte) []Message {
	var d envDecoder
	return d.frame(nil, frame)
}

// envDecoder decodes message envelopes. It remembers the last event name it
// made, so that a stream of events of the same name shares one string. The
// zero value is ready to use; it is not safe for concurrent use.
type envDecoder struct {
	p         jsonParser
	spans     []envSpan
	ids       []byte // scratch for the ids of one body
	lastEvent string
}

// frame is decodeFrame appending to dst, which it may reuse.
func (d *envDecoder) frame(dst []Message, frame []byte) []Message {
	msgs, err := d.decode(dst, frame)
	if err == nil && len(msgs) > len(dst) {
		if n := msgs[len(dst):]; !(len(n) == 1 && n[0].ID == "" && n[0].Event == "" && n[0].Data == nil) {
			return msgs
		}
	}
	return append(dst, Message{Data: bytes.Clone(frame)})
}

// envSpan is one envelope as found in the body: offsets of the raw values of
// its fields (start < 0 when absent) and its event name.
type envSpan struct {
	id, data, messages [2]int
	idAt               [2]int // where the decoded id sits in the ids string
	event              string
	hasEvent           bool
}

func noSpan() envSpan {
	return envSpan{id: [2]int{-1, -1}, data: [2]int{-1, -1}, messages: [2]int{-1, -1}}
}

// decode appends the messages of body to dst. On error dst is returned
// unchanged (nil when dst is nil).
func (d *envDecoder) decode(dst []Message, body []byte) ([]Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return dst, nil
	}
	if body[0] != '[' && body[0] != '{' {
		return dst, fmt.Errorf("%w: body is neither a JSON array nor an object", ErrMalformed)
	}
	d.p = jsonParser{b: body}
	d.spans = d.spans[:0]
	var err error
	if body[0] == '[' {
		err = d.list()
	} else {
		err = d.object()
	}
	if err == nil {
		d.p.ws()
		if d.p.i < len(body) {
			err = d.p.fail("after the top-level value")
		}
	}
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	out := dst
	if out == nil {
		out = make([]Message, 0, len(d.spans))
	}
	out, err = d.build(out, body)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// object reads a top-level object: one envelope, or a wrapper whose
// "messages" field holds the list.
func (d *envDecoder) object() error {
	outer := noSpan()
	if err := d.envelope(&outer, true); err != nil {
		return err
	}
	if outer.messages[0] < 0 {
		d.spans = append(d.spans, outer)
		return nil
	}
	// The messages value was validated as part of the body; read it again
	// as a list.
	raw := d.p
	d.p = jsonParser{b: raw.b[:outer.messages[1]], i: outer.messages[0]}
	var err error
	switch raw.b[outer.messages[0]] {
	case '[':
		err = d.list()
	case 'n': // null: no messages
	default:
		err = errors.New("messages: not a list of message objects")
	}
	d.p = raw
	return err
}

// list reads an array of envelopes (objects or nulls).
func (d *envDecoder) list() error {
	p := &d.p
	n := 0
	return p.elements(func() error {
		e := noSpan()
		switch p.peek() {
		case '{':
			if err := d.envelope(&e, false); err != nil {
				return err
			}
		case 'n':
			if err := p.literal("null"); err != nil {
				return err
			}
		default:
			if _, _, err := p.value(); err != nil {
				return err
			}
			// An error either way: whether the rest is valid JSON does
			// not matter.
			return fmt.Errorf("message %d is not an object", n)
		}
		d.spans = append(d.spans, e)
		n++
		return nil
	})
}

// envelope reads one object, recording the fields of a message; top allows
// the "messages" field. A field of the wrong type is reported only once the
// whole object has been read, as encoding/json does.
func (d *envDecoder) envelope(e *envSpan, top bool) error {
	p := &d.p
	var typeErr error
	err := p.members(func(ks, ke int, plain bool, vs, ve int) error {
		switch fieldOf(p.b[ks:ke], plain) {
		case "ID":
			e.id = [2]int{vs, ve}
		case "DATA":
			e.data = [2]int{vs, ve}
		case "MESSAGES":
			if top {
				e.messages = [2]int{vs, ve}
			}
		case "EVENT":
			switch p.b[vs] {
			case '"':
				e.event, e.hasEvent = d.eventName(p.b[vs:ve]), true
			case 'n': // null leaves the field as it was
			default:
				typeErr = errors.New("event is not a string")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return typeErr
}

// eventName returns the string of the JSON string raw, reusing the last
// event name when it is the same.
func (d *envDecoder) eventName(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if string(inner) == d.lastEvent && plainString(inner) {
		return d.lastEvent
	}
	d.lastEvent = unquote(raw)
	return d.lastEvent
}

// build turns the spans into messages appended to dst: all data copied into
// one new block, all ids into one new string.
func (d *envDecoder) build(dst []Message, body []byte) ([]Message, error) {
	dataLen := 0
	for _, e := range d.spans {
		if e.data[0] >= 0 {
			dataLen += e.data[1] - e.data[0]
		}
	}
	ids := d.ids[:0]
	for i := range d.spans {
		e := &d.spans[i]
		if e.id[0] < 0 {
			continue
		}
		raw := body[e.id[0]:e.id[1]]
		start := len(ids)
		switch c := raw[0]; {
		case c == 'n': // null
		case c == '"' && plainString(raw[1:len(raw)-1]):
			ids = append(ids, raw[1:len(raw)-1]...)
		case c == '"':
			ids = append(ids, unquote(raw)...)
		case c == '-' || c >= '0' && c <= '9':
			ids = append(ids, raw...)
		default:
			return dst, fmt.Errorf("%w: message %d: id must be a string or a number, got %.20s", ErrMalformed, i, raw)
		}
		e.idAt = [2]int{start, len(ids)}
	}
	d.ids = ids
	idStr := string(ids)
	var block []byte
	if dataLen > 0 {
		block = make([]byte, 0, dataLen)
	}
	for _, e := range d.spans {
		m := Message{ID: idStr[e.idAt[0]:e.idAt[1]], Event: e.event}
		if e.data[0] >= 0 {
			start := len(block)
			block = append(block, body[e.data[0]:e.data[1]]...)
			m.Data = block[start:len(block):len(block)]
		}
		dst = append(dst, m)
	}
	return dst, nil
}
