package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Fields describes where a message's id, event name and data live in a JSON
// value, as dot-separated paths of object keys ("u", "meta.seq", "payload").
// A path goes down through nested objects only (there is no array indexing),
// and each of its keys must match a key of the object exactly, case
// included. When an object repeats a key, its last value is the one used,
// as with encoding/json decoding into a map.
//
// The Decoder made from Fields reads one input (a WebSocket frame, the data
// of an SSE event, a poll body) as follows:
//
//   - Surrounding whitespace is ignored; an empty input or null holds no
//     messages.
//   - The input must be exactly one valid JSON value, or the Decoder fails
//     with an error wrapping ErrMalformed.
//   - An array holds one message per element: an object is read through
//     the paths, null is skipped, and any other value (number, string,
//     bool, array) is a message without id or event whose Data is that
//     value.
//   - An object whose Items path leads to an array holds the elements of
//     that array, read as the elements of a top-level array are. Any other
//     object is one message.
//   - A string, number or bool is one message without id or event whose
//     Data is the value.
//
// Compared with DecodeJSON, keys match exactly instead of case-insensitively,
// an object without data is delivered whole, ids and event names of other
// types are dropped instead of failing the input, bare values are messages
// instead of errors, a null in a list is skipped instead of being an empty
// message, and a null Items value makes the object one message instead of
// none.
type Fields struct {
	// ID is the path of the message id; "" means "id". A string gives its
	// text and a number the number as written (1042 gives "1042"); null, a
	// missing value or any other type leaves the message without id.
	ID string
	// Event is the path of the event name; "" means "event". A string gives
	// its text and a number the number as written; any other value leaves
	// the message without event name.
	Event string
	// Data is the path of the payload; "" means "data" and "." the whole
	// value. Message.Data holds the raw JSON found there, so a string keeps
	// its quotes (`"hi"`). An object that lacks the path is its own data.
	Data string
	// Items is the path, inside a top-level object, of an array of messages;
	// "" means "messages" and "-" that objects never hold a list.
	Items string
	// Key makes the Message.Key of each message without id, so that the
	// client drops an item it has delivered before although the server
	// gives items no id (a poll answered with the whole state every time).
	// It is either a comma-separated list of paths whose raw JSON values,
	// together, make the key ("user,time"; a missing value counts as null,
	// and an item with none of them gets no key), or "content" for a hash
	// of the item's whole JSON text, byte for byte. "" gives no key.
	Key string
}

// KeyContent is the Fields.Key that makes a message's key from a hash of
// its whole item.
const KeyContent = "content"

// Validate reports an error when a path has an empty key, such as "a..b",
// ".a" or "a.", other than the special values "." of Data and "-" of Items,
// or when a path of Key is empty ("a,,b"). The empty path, which selects
// the default, is valid.
func (f Fields) Validate() error {
	if f.Key != "" && f.Key != KeyContent {
		for _, path := range strings.Split(f.Key, ",") {
			if path == "" || slices.Contains(strings.Split(path, "."), "") {
				return fmt.Errorf("transport: Fields.Key path %q has an empty key", path)
			}
		}
	}
	for _, c := range [...]struct{ name, path, special string }{
		{"ID", f.ID, ""},
		{"Event", f.Event, ""},
		{"Data", f.Data, "."},
		{"Items", f.Items, "-"},
	} {
		if c.path == "" || c.path == c.special {
			continue
		}
		for _, seg := range strings.Split(c.path, ".") {
			if seg == "" {
				return fmt.Errorf("transport: Fields.%s path %q has an empty key", c.name, c.path)
			}
		}
	}
	return nil
}

// Decoder returns f as a Decoder. It does not check the paths (see
// Validate): a path with an empty key looks for the key "".
func (f Fields) Decoder() Decoder {
	d := &fieldsDecoder{}
	d.paths[fieldsID] = fieldsPath(f.ID, "id")
	d.paths[fieldsEvent] = fieldsPath(f.Event, "event")
	if f.Data != "." {
		d.paths[fieldsData] = fieldsPath(f.Data, "data")
	}
	if f.Items != "-" {
		d.paths[fieldsItems] = fieldsPath(f.Items, "messages")
	}
	switch f.Key {
	case "":
	case KeyContent:
		d.keyContent = true
	default:
		for _, path := range strings.Split(f.Key, ",") {
			d.keyPaths = append(d.keyPaths, strings.Split(path, "."))
		}
	}
	return d.decode
}

func fieldsPath(path, def string) []string {
	if path == "" {
		path = def
	}
	return strings.Split(path, ".")
}

// Indexes of fieldsDecoder.paths.
const (
	fieldsID = iota
	fieldsEvent
	fieldsData
	fieldsItems
	fieldsCount
)

// fieldsDecoder is the Decoder of a Fields. It is read-only once made, so
// that it can decode from several goroutines at once.
type fieldsDecoder struct {
	// paths holds the keys of each path; nil when the path is not looked
	// up (Data ".", Items "-").
	paths [fieldsCount][]string
	// The Key: a hash of the item, or the values at these paths.
	keyContent bool
	keyPaths   [][]string
}

// fieldsSpan is one message as found in the input: the offsets of the raw
// values of its id and event (start < 0 when absent), of its data, and of
// the whole item it was read from.
type fieldsSpan struct {
	id, event, data, item [2]int
}

var fieldsNone = [2]int{-1, -1}

// decode is the Decoder. The spans of a small input stay on the stack; the
// result takes three allocations: the messages, one block for all their
// data and one string for all their ids and event names.
func (d *fieldsDecoder) decode(body []byte) ([]Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	var buf [8]fieldsSpan
	spans := buf[:0]
	p := jsonParser{b: body}
	var err error
	switch body[0] {
	case '[':
		spans, err = d.list(&p, spans)
	case '{':
		var m fieldsSpan
		var items [2]int
		m, items, err = d.object(&p, true)
		switch {
		case err != nil:
		case items[0] >= 0 && body[items[0]] == '[':
			// The list was checked with the rest of the object; read it
			// again for its messages.
			q := jsonParser{b: body[:items[1]], i: items[0]}
			spans, err = d.list(&q, spans)
		default:
			spans = append(spans, m)
		}
	default:
		var vs, ve int
		vs, ve, err = p.value()
		spans = append(spans, fieldsSpan{id: fieldsNone, event: fieldsNone, data: [2]int{vs, ve}, item: [2]int{vs, ve}})
	}
	if err == nil {
		p.ws()
		if p.i < len(body) {
			err = p.fail("after the top-level value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !d.keyContent && d.keyPaths == nil {
		return buildFields(spans, body), nil
	}
	items := make([][2]int, len(spans))
	for i, s := range spans {
		items[i] = s.item
	}
	msgs := buildFields(spans, body)
	for i := range msgs {
		if msgs[i].ID == "" {
			msgs[i].Key = d.key(body, items[i])
		}
	}
	return msgs, nil
}

// key returns the Key of the item at v in body.
func (d *fieldsDecoder) key(body []byte, v [2]int) string {
	if d.keyContent {
		sum := sha256.Sum256(body[v[0]:v[1]])
		return hex.EncodeToString(sum[:16])
	}
	k := []byte{'['}
	found := false
	for i, path := range d.keyPaths {
		if i > 0 {
			k = append(k, ',')
		}
		at := fieldsDescend(body, v, path)
		if at[0] < 0 {
			k = append(k, "null"...)
			continue
		}
		found = true
		k = append(k, body[at[0]:at[1]]...)
	}
	if !found {
		return ""
	}
	return string(append(k, ']'))
}

// list reads the array at p.i, appending a span for each element but null.
func (d *fieldsDecoder) list(p *jsonParser, spans []fieldsSpan) ([]fieldsSpan, error) {
	err := p.elements(func() error {
		switch p.peek() {
		case '{':
			m, _, err := d.object(p, false)
			if err != nil {
				return err
			}
			spans = append(spans, m)
		case 'n':
			return p.literal("null")
		default:
			vs, ve, err := p.value()
			if err != nil {
				return err
			}
			spans = append(spans, fieldsSpan{id: fieldsNone, event: fieldsNone, data: [2]int{vs, ve}, item: [2]int{vs, ve}})
		}
		return nil
	})
	return spans, err
}

// object reads the object at p.i as one message and, when top, also returns
// where the value of the Items path is (start < 0 when absent).
func (d *fieldsDecoder) object(p *jsonParser, top bool) (m fieldsSpan, items [2]int, err error) {
	start := p.i
	n := fieldsCount
	if !top {
		n = fieldsItems
	}
	found := [fieldsCount][2]int{fieldsNone, fieldsNone, fieldsNone, fieldsNone}
	err = p.members(func(ks, ke int, plain bool, vs, ve int) error {
		d.match(&found, n, p.b, ks, ke, plain, vs, ve)
		return nil
	})
	if err != nil {
		return m, items, err
	}
	for k := range n {
		if len(d.paths[k]) > 1 && found[k][0] >= 0 {
			found[k] = fieldsDescend(p.b, found[k], d.paths[k][1:])
		}
	}
	m = fieldsSpan{id: found[fieldsID], event: found[fieldsEvent], data: found[fieldsData], item: [2]int{start, p.i}}
	if m.data[0] < 0 {
		m.data = [2]int{start, p.i}
	}
	return m, found[fieldsItems], nil
}

// match records the value vs:ve in found[k] for each of the first n paths
// whose first key is the key whose contents are b[ks:ke] (plain as
// jsonParser.str reports it).
func (d *fieldsDecoder) match(found *[fieldsCount][2]int, n int, b []byte, ks, ke int, plain bool, vs, ve int) {
	key := b[ks:ke]
	var text string
	escaped := !plain && (bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key))
	if escaped {
		text = unquote(b[ks-1 : ke+1])
	}
	for k := range n {
		path := d.paths[k]
		if len(path) == 0 {
			continue
		}
		if escaped && text == path[0] || !escaped && string(key) == path[0] {
			found[k] = [2]int{vs, ve}
		}
	}
}

// fieldsDescend follows the keys of path from the value at v, which the
// parser has already checked, and returns where the value they lead to is,
// or fieldsNone when a key is missing or a value on the way is not an
// object.
func fieldsDescend(b []byte, v [2]int, path []string) [2]int {
	for _, key := range path {
		if v[0] < 0 || b[v[0]] != '{' {
			return fieldsNone
		}
		p := jsonParser{b: b[:v[1]], i: v[0]}
		next := fieldsNone
		err := p.members(func(ks, ke int, plain bool, vs, ve int) error {
			k := b[ks:ke]
			if plain || bytes.IndexByte(k, '\\') < 0 && utf8.Valid(k) {
				if string(k) == key {
					next = [2]int{vs, ve}
				}
			} else if unquote(b[ks-1:ke+1]) == key {
				next = [2]int{vs, ve}
			}
			return nil
		})
		if err != nil {
			return fieldsNone // cannot happen: the value was checked
		}
		v = next
	}
	return v
}

// buildFields turns spans into messages: all their data copied into one new
// block, and their ids and event names into one new string.
func buildFields(spans []fieldsSpan, body []byte) []Message {
	if len(spans) == 0 {
		return nil
	}
	var scratch [256]byte
	text := scratch[:0]
	// The offsets of the id and event of spans[i] in text, reusing the
	// spans' own fields.
	dataLen := 0
	for i := range spans {
		s := &spans[i]
		dataLen += s.data[1] - s.data[0]
		text, s.id = appendFieldText(text, body, s.id)
		text, s.event = appendFieldText(text, body, s.event)
	}
	all := string(text)
	block := make([]byte, 0, dataLen)
	out := make([]Message, len(spans))
	for i, s := range spans {
		start := len(block)
		block = append(block, body[s.data[0]:s.data[1]]...)
		out[i] = Message{
			ID:    all[s.id[0]:s.id[1]],
			Event: all[s.event[0]:s.event[1]],
			Data:  block[start:len(block):len(block)],
		}
	}
	return out
}

// appendFieldText appends to text the text of the raw value at v in body
// when it is a string or a number, and returns where it is in text (an
// empty range otherwise).
func appendFieldText(text, body []byte, v [2]int) ([]byte, [2]int) {
	start := len(text)
	if v[0] >= 0 {
		raw := body[v[0]:v[1]]
		switch c := raw[0]; {
		case c == '"' && plainString(raw[1:len(raw)-1]):
			text = append(text, raw[1:len(raw)-1]...)
		case c == '"':
			text = append(text, unquote(raw)...)
		case c == '-' || c >= '0' && c <= '9':
			text = append(text, raw...)
		}
	}
	return text, [2]int{start, len(text)}
}
