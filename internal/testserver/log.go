package testserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// entry is one published message. Its byte slices are never changed after
// the entry is built, so copies of an entry may be read without the lock.
type entry struct {
	id    uint64
	event string
	data  []byte // compact JSON, the same bytes on every transport
	body  []byte // the encoded message object
}

// msgLog is the bounded message log. The Server's mutex guards it.
type msgLog struct {
	retention int
	items     []entry // oldest first, ids consecutive
	last      uint64  // id of the newest message ever published; 0 when none
}

// append adds a message with the next id, dropping the oldest beyond the
// retention. Slicing off the front lets append reallocate when capacity runs
// out, which copies only the retained entries: memory stays within about
// twice the retention.
func (l *msgLog) append(event string, data []byte) entry {
	l.last++
	id := strconv.FormatUint(l.last, 10)
	e := entry{id: l.last, event: event, data: data, body: encodeMessage(id, event, data)}
	l.items = append(l.items, e)
	if len(l.items) > l.retention {
		l.items[0] = entry{} // let the dropped bytes go
		l.items = l.items[1:]
	}
	return e
}

// after returns up to max messages with ids greater than cursor, oldest first.
// A cursor older than the retained log starts at the oldest retained message.
// The result is a copy the caller may keep.
func (l *msgLog) after(cursor uint64, max int) []entry {
	if len(l.items) == 0 {
		return nil
	}
	start := 0
	if first := l.items[0].id; cursor >= first {
		start = int(cursor - first + 1)
	}
	if start >= len(l.items) {
		return nil
	}
	end := min(len(l.items), start+max)
	out := make([]entry, end-start)
	copy(out, l.items[start:end])
	return out
}

// errBadCursor is wrapped by parseCursor's errors; the text goes into the 400
// response body.
var errBadCursor = errors.New("bad cursor")

// parseCursor checks a resume cursor as it came off the wire. Empty means
// "before everything retained" (0). The cursor must be a decimal id no newer
// than the newest message.
func (l *msgLog) parseCursor(raw string) (uint64, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: not a message id", errBadCursor, raw)
	}
	if n > l.last {
		return 0, fmt.Errorf("%w %q: no such message (newest is %d)", errBadCursor, raw, l.last)
	}
	return n, nil
}

// normalizeData returns data as compact JSON when it is valid JSON, or as a
// JSON string holding it otherwise. Compacting keeps SSE data on one line and
// makes the bytes identical on every transport.
func normalizeData(data []byte) []byte {
	if json.Valid(data) {
		var b bytes.Buffer
		if err := json.Compact(&b, data); err == nil {
			return b.Bytes()
		}
	}
	return jsonString(string(data))
}

// jsonString encodes s as a JSON string without HTML escaping, so that the
// bytes a test publishes are the bytes a client sees.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// encodeMessage builds the wire object by hand so that data appears verbatim
// (encoding/json would re-escape '<', '>' and '&' inside it). An empty id or
// event is left out.
func encodeMessage(id, event string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(event)+32)
	b = append(b, '{')
	if id != "" {
		b = append(b, `"id":`...)
		b = append(b, jsonString(id)...)
		b = append(b, ',')
	}
	if event != "" {
		b = append(b, `"event":`...)
		b = append(b, jsonString(event)...)
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// oversizedData is the data of an injected oversized message: a JSON string
// whose encoding, quotes included, is exactly size bytes (at least 2).
func oversizedData(size int) []byte {
	size = max(size, 2)
	b := make([]byte, 0, size)
	b = append(b, '"')
	b = append(b, strings.Repeat("x", size-2)...)
	return append(b, '"')
}

// jsonArray joins encoded message objects into a JSON array.
func jsonArray(objs [][]byte) []byte {
	n := 2
	for _, o := range objs {
		n += len(o) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, o := range objs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o...)
	}
	return append(b, ']')
}
