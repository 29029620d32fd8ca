package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/anysub/anysub/transport"
)

// This file is the Engine.IO v4 framing: the seven packet types, a packet as
// text ("4hello", "2", "3probe"), the polling payload that joins packets with
// the record separator 0x1e (binary packets as "b" and base64), and the
// open packet of the handshake.

// Engine.IO packet types, as the digit that starts a text packet.
const (
	engineOpen    byte = '0'
	engineClose   byte = '1'
	enginePing    byte = '2'
	enginePong    byte = '3'
	engineMessage byte = '4'
	engineUpgrade byte = '5'
	engineNoop    byte = '6'
)

// recordSeparator joins the packets of a polling payload.
const recordSeparator = 0x1e

// errEngineFrame is wrapped by every failure to read an Engine.IO packet;
// it matches transport.ErrMalformed.
var errEngineFrame error = &malformedError{"malformed Engine.IO packet"}

// packet is one Engine.IO packet. A binary message (a WebSocket binary
// frame, or "b"+base64 in a polling payload) has typ engineMessage and
// binary set; its data are the raw bytes.
type packet struct {
	typ    byte
	data   []byte
	binary bool
}

// String shows a packet for tests and errors, binary data as its length.
func (p packet) String() string {
	if p.binary {
		return fmt.Sprintf("binary(%d)", len(p.data))
	}
	return string(p.typ) + string(p.data)
}

// decodePacket reads one text packet: a type digit and its data. data is
// kept, not copied.
func decodePacket(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", errEngineFrame)
	}
	if b[0] < engineOpen || b[0] > engineNoop {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", errEngineFrame, b[0])
	}
	return packet{typ: b[0], data: b[1:]}, nil
}

// appendPacket appends the text form of p to dst: the type and data, or
// for a binary message "b" and its base64 (the form a polling payload
// needs; a WebSocket sends binary data as a binary frame instead).
func appendPacket(dst []byte, p packet) []byte {
	if p.binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, p.typ)
	return append(dst, p.data...)
}

// encodePayload joins packets into one polling payload.
func encodePayload(ps []packet) []byte {
	n := 0
	for _, p := range ps {
		n += len(p.data) + 2
		if p.binary {
			n += len(p.data)/3 + 4
		}
	}
	out := make([]byte, 0, n)
	for i, p := range ps {
		if i > 0 {
			out = append(out, recordSeparator)
		}
		out = appendPacket(out, p)
	}
	return out
}

// decodePayload splits a polling payload into its packets. A packet whose
// data (decoded, for a binary one) passes limit bytes fails with a
// *transport.TooLargeError; any other unreadable packet fails with
// errEngineFrame. The packets alias body, except binary ones.
func decodePayload(body []byte, limit int64) ([]packet, error) {
	var out []packet
	for len(body) > 0 || out == nil {
		rec := body
		if i := bytes.IndexByte(body, recordSeparator); i >= 0 {
			rec, body = body[:i], body[i+1:]
			if len(body) == 0 {
				return nil, fmt.Errorf("%w: payload ends with a separator", errEngineFrame)
			}
		} else {
			body = nil
		}
		p, err := decodeRecord(rec, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// decodeRecord reads one packet of a polling payload.
func decodeRecord(rec []byte, limit int64) (packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		enc := rec[1:]
		if int64(base64.StdEncoding.DecodedLen(len(enc))) > limit+2 {
			return packet{}, tooLarge(int64(base64.StdEncoding.DecodedLen(len(enc))), limit, "binary packet")
		}
		data, err := base64.StdEncoding.AppendDecode(nil, enc)
		if err != nil {
			return packet{}, fmt.Errorf("%w: binary packet: %v", errEngineFrame, err)
		}
		if int64(len(data)) > limit {
			return packet{}, tooLarge(int64(len(data)), limit, "binary packet")
		}
		return packet{typ: engineMessage, data: data, binary: true}, nil
	}
	p, err := decodePacket(rec)
	if err != nil {
		return packet{}, err
	}
	if int64(len(p.data)) > limit {
		return packet{}, tooLarge(int64(len(p.data)), limit, "packet")
	}
	return p, nil
}

// tooLarge is the cause of a failure on data over the size limit.
func tooLarge(size, limit int64, what string) error {
	return &transport.TooLargeError{Size: size, Limit: limit, What: what}
}

// handshake is what the open packet says about the session.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds
	MaxPayload   int64    `json:"maxPayload"`   // bytes the client may join into one POST
}

// Protocol bounds on the open packet: a server announcing more is not
// believed (a day between pings would disable liveness).
const (
	maxPingPeriod  = 24 * time.Hour
	minMaxPayload  = 1 << 10
	defaultPayload = 1_000_000
)

// parseOpen reads the data of an open packet.
func parseOpen(data []byte) (handshake, error) {
	var h handshake
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("%w: open packet: %v", errEngineFrame, err)
	}
	switch {
	case h.SID == "":
		return h, fmt.Errorf("%w: open packet without sid", errEngineFrame)
	case h.PingInterval <= 0 || h.PingTimeout <= 0:
		return h, fmt.Errorf("%w: open packet without pingInterval and pingTimeout", errEngineFrame)
	case time.Duration(h.PingInterval)*time.Millisecond > maxPingPeriod || time.Duration(h.PingTimeout)*time.Millisecond > maxPingPeriod:
		return h, fmt.Errorf("%w: open packet: ping period over %v", errEngineFrame, maxPingPeriod)
	}
	if h.MaxPayload <= 0 {
		h.MaxPayload = defaultPayload
	}
	h.MaxPayload = max(h.MaxPayload, minMaxPayload)
	return h, nil
}

// pingInterval and pingTimeout are the server's heartbeat settings.
func (h handshake) pingInterval() time.Duration {
	return time.Duration(h.PingInterval) * time.Millisecond
}

func (h handshake) pingTimeout() time.Duration {
	return time.Duration(h.PingTimeout) * time.Millisecond
}

// offers reports whether the server offers an upgrade to name.
func (h handshake) offers(name string) bool {
	for _, u := range h.Upgrades {
		if u == name {
			return true
		}
	}
	return false
}
