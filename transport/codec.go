package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decoder turns one poll or long-poll response body into messages. It returns
// an error for a body it cannot read; the transport wraps it as a transient
// *Error with ErrMalformed. The returned messages must not alias body, which
// the transport may reuse.
type Decoder func(body []byte) ([]Message, error)

// envelope is the default wire shape of one message.
type envelope struct {
	ID    json.RawMessage `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// DecodeJSON is the default Decoder: a JSON array of message objects, an
// object with a "messages" array, or a single message object. An empty body,
// null, an empty list or "messages": null yields no messages.
func DecodeJSON(body []byte) ([]Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil, nil
	}
	switch body[0] {
	case '[':
		var list []envelope
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return fromEnvelopes(list)
	case '{':
		var obj struct {
			envelope
			// Raw, so that "messages": null (a Go server's nil slice) is
			// told apart from an object without the field.
			Messages json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if obj.Messages == nil {
			return fromEnvelopes([]envelope{obj.envelope})
		}
		var list []envelope
		if err := json.Unmarshal(obj.Messages, &list); err != nil {
			return nil, fmt.Errorf("%w: messages: %v", ErrMalformed, err)
		}
		return fromEnvelopes(list)
	}
	return nil, fmt.Errorf("%w: body is neither a JSON array nor an object", ErrMalformed)
}

// decodeFrame decodes a WebSocket frame with DecodeJSON, falling back to one
// message without id whose Data is the whole frame when the frame is not an
// envelope: not JSON, an empty batch, or an object with none of id, event
// and data (such as {"price":3} from a server that sends bare values).
func decodeFrame(frame []byte) []Message {
	msgs, err := DecodeJSON(frame)
	if err == nil && len(msgs) > 0 && !(len(msgs) == 1 && msgs[0].ID == "" && msgs[0].Event == "" && msgs[0].Data == nil) {
		return msgs
	}
	return []Message{{Data: bytes.Clone(frame)}}
}

func fromEnvelopes(list []envelope) ([]Message, error) {
	out := make([]Message, 0, len(list))
	for i, e := range list {
		id, err := decodeID(e.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", ErrMalformed, i, err)
		}
		var data []byte
		if len(e.Data) > 0 {
			data = bytes.Clone(e.Data)
		}
		out = append(out, Message{ID: id, Event: e.Event, Data: data})
	}
	return out, nil
}

// decodeID accepts a JSON string or number (kept as written) or nothing.
func decodeID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("id must be a string or a number, got %.20s", raw)
}
