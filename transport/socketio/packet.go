package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// This file is the Socket.IO v5 layer: a packet rides in one Engine.IO
// message and reads <type>[<attachments>-][<namespace>,][<ack id>][<JSON>].
// The namespace is left out for "/".

// Socket.IO packet types.
const (
	sioConnect      byte = '0'
	sioDisconnect   byte = '1'
	sioEvent        byte = '2'
	sioAck          byte = '3'
	sioConnectError byte = '4'
	sioBinaryEvent  byte = '5'
	sioBinaryAck    byte = '6'
)

// errSIOPacket is wrapped by every failure to read a Socket.IO packet; it
// matches transport.ErrMalformed.
var errSIOPacket error = &malformedError{"malformed Socket.IO packet"}

// maxAckID bounds an ack id: socket.io counts them from 0 in a JavaScript
// number; anything longer than this is not one.
const maxAckID = 1<<53 - 1

// sioPacket is one Socket.IO packet as read off the wire.
type sioPacket struct {
	typ         byte
	attachments int    // for binary types: how many binary messages follow
	nsp         string // "/" when the packet names none
	ack         int64  // -1 when the packet has no ack id
	data        []byte // the JSON payload, nil when absent; aliases the input
}

// decodeSIO reads one Socket.IO packet from the data of an Engine.IO
// message. maxAttachments bounds the attachment count of binary packets.
// The payload, when present, must be valid JSON of the shape its type
// requires: an object for CONNECT and CONNECT_ERROR, a non-empty array for
// events, an array for acks.
func decodeSIO(b []byte, maxAttachments int) (sioPacket, error) {
	p := sioPacket{nsp: "/", ack: -1}
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty", errSIOPacket)
	}
	p.typ = b[0]
	if p.typ < sioConnect || p.typ > sioBinaryAck {
		return p, fmt.Errorf("%w: unknown type %q", errSIOPacket, p.typ)
	}
	i := 1
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j == i || j-i > 9 || j >= len(b) || b[j] != '-' {
			return p, fmt.Errorf("%w: bad attachment count", errSIOPacket)
		}
		n, _ := strconv.Atoi(string(b[i:j]))
		if n > maxAttachments {
			return p, fmt.Errorf("%w: %d attachments, limit %d", errSIOPacket, n, maxAttachments)
		}
		p.attachments = n
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.nsp, i = string(b[i:]), len(b)
		} else {
			p.nsp, i = string(b[i:i+j]), i+j+1
		}
	}
	if i < len(b) && isDigit(b[i]) {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		id, err := strconv.ParseInt(string(b[i:j]), 10, 64)
		if err != nil || id > maxAckID {
			return p, fmt.Errorf("%w: bad ack id", errSIOPacket)
		}
		p.ack, i = id, j
	}
	if i < len(b) {
		p.data = b[i:]
		if err := validPayload(p.typ, p.data); err != nil {
			return p, err
		}
	}
	return p, nil
}

// validPayload checks the JSON payload of a packet of type typ.
func validPayload(typ byte, data []byte) error {
	if !json.Valid(data) {
		return fmt.Errorf("%w: payload is not JSON", errSIOPacket)
	}
	first := firstByte(data)
	switch typ {
	case sioConnect, sioConnectError:
		if first != '{' {
			return fmt.Errorf("%w: payload of type %c must be an object", errSIOPacket, typ)
		}
	case sioEvent, sioBinaryEvent:
		if first != '[' {
			return fmt.Errorf("%w: event payload must be an array", errSIOPacket)
		}
	case sioAck, sioBinaryAck:
		if first != '[' {
			return fmt.Errorf("%w: ack payload must be an array", errSIOPacket)
		}
	case sioDisconnect:
	}
	return nil
}

// appendSIO appends the text form of a packet without attachments to dst.
func appendSIO(dst []byte, typ byte, nsp string, ack int64, data []byte) []byte {
	dst = append(dst, typ)
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if ack >= 0 {
		dst = strconv.AppendInt(dst, ack, 10)
	}
	return append(dst, data...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// firstByte is the first byte of b that is not JSON white space, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// event is an EVENT packet's payload taken apart.
type event struct {
	name   string // the first element: a string, or the JSON text of a number
	args   []byte // a JSON array of the remaining elements, without the offset
	offset string // the connection state recovery offset, "" when none
}

// splitEvent takes apart the JSON array of an EVENT packet (valid JSON,
// checked by decodeSIO). withOffset says the server stamps its events with
// a recovery offset: then a last element that is a non-empty string, after
// at least the name, is the offset and is left out of args.
func splitEvent(data []byte, withOffset bool) (event, error) {
	elems, err := splitArray(data)
	if err != nil {
		return event{}, err
	}
	if len(elems) == 0 {
		return event{}, fmt.Errorf("%w: empty event", errSIOPacket)
	}
	var ev event
	switch name := elems[0]; name[0] {
	case '"':
		if err := json.Unmarshal(name, &ev.name); err != nil {
			return event{}, fmt.Errorf("%w: event name: %v", errSIOPacket, err)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		ev.name = string(name)
	default:
		return event{}, fmt.Errorf("%w: event name must be a string or a number", errSIOPacket)
	}
	rest := elems[1:]
	if withOffset && len(rest) > 0 && rest[len(rest)-1][0] == '"' {
		if err := json.Unmarshal(rest[len(rest)-1], &ev.offset); err != nil {
			return event{}, fmt.Errorf("%w: offset: %v", errSIOPacket, err)
		}
		if ev.offset != "" { // a server never stamps an empty offset
			rest = rest[:len(rest)-1]
		}
	}
	ev.args = joinArray(rest)
	return ev, nil
}

// splitArray returns the elements of a JSON array, valid JSON, as slices of
// it, white space trimmed.
func splitArray(data []byte) ([][]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, fmt.Errorf("%w: not an array", errSIOPacket)
	}
	i = skipSpace(data, i+1)
	var out [][]byte
	if i < len(data) && data[i] == ']' {
		return out, nil
	}
	for i < len(data) {
		end, err := skipValue(data, i)
		if err != nil {
			return nil, err
		}
		out = append(out, data[i:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			break
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return out, nil
		default:
			return nil, fmt.Errorf("%w: bad array", errSIOPacket)
		}
	}
	return nil, fmt.Errorf("%w: unterminated array", errSIOPacket)
}

// joinArray makes a JSON array of elems.
func joinArray(elems [][]byte) []byte {
	n := 2
	for _, e := range elems {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, e := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']')
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		}
		break
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i]. b is known
// to be valid JSON, so only strings and nesting need care.
func skipValue(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			k, err := skipString(b, j)
			if err != nil {
				return 0, err
			}
			j = k - 1
			if depth == 0 {
				return k, nil
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return j, nil
			}
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return j, nil
			}
		}
	}
	if depth != 0 {
		return 0, fmt.Errorf("%w: unterminated value", errSIOPacket)
	}
	return len(b), nil
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string", errSIOPacket)
}

// placeholderKey marks the object that stands for an attachment in a
// binary packet: {"_placeholder":true,"num":N}.
const placeholderKey = "_placeholder"

// Binary is the form an attachment takes in a delivered event: the
// placeholder object of the packet becomes {"base64": "<the bytes in
// standard base64>"}.
type Binary struct {
	Base64 string `json:"base64"`
}

// fillPlaceholders returns the JSON data of a binary packet with each
// placeholder replaced by its attachment, as a Binary object. Every
// attachment must be used exactly as numbered. The result is re-encoded
// (numbers kept as written; object keys come out sorted).
func fillPlaceholders(data []byte, attachments [][]byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", errSIOPacket, err)
	}
	used := make([]bool, len(attachments))
	v, err := replacePlaceholders(v, attachments, used)
	if err != nil {
		return nil, err
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("%w: attachment %d has no placeholder", errSIOPacket, i)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %v", errSIOPacket, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func replacePlaceholders(v any, attachments [][]byte, used []bool) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			r, err := replacePlaceholders(e, attachments, used)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]any:
		if ph, ok := x[placeholderKey].(bool); ok && ph && len(x) == 2 {
			num, ok := x["num"].(json.Number)
			if !ok {
				return nil, fmt.Errorf("%w: placeholder without num", errSIOPacket)
			}
			n, err := strconv.Atoi(string(num))
			if err != nil || n < 0 || n >= len(attachments) {
				return nil, fmt.Errorf("%w: placeholder %s out of range", errSIOPacket, num)
			}
			used[n] = true
			return Binary{Base64: base64.StdEncoding.EncodeToString(attachments[n])}, nil
		}
		for k, e := range x {
			r, err := replacePlaceholders(e, attachments, used)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}
