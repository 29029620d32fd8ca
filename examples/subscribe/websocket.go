package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/anysub/anysub/transport"
)

// wireWebSocket sets the WebSocket hooks asked for by -on-connect, -app-ping
// and -app-pong-field.
func (o *options) wireWebSocket(ws *transport.WebSocket) {
	if len(o.onConnect) > 0 {
		frames := append([]string(nil), o.onConnect...)
		ws.Hello = func(cursor string) ([][]byte, error) {
			out := make([][]byte, len(frames))
			for i, f := range frames {
				out[i] = []byte(strings.ReplaceAll(f, "{{cursor}}", cursor))
			}
			return out, nil
		}
	}
	if o.appPing != "" {
		ping := o.appPing
		ws.AppPing = func(n int) []byte {
			return []byte(strings.ReplaceAll(ping, "{{n}}", strconv.Itoa(n)))
		}
	}
	if o.appPongField != "" {
		pong := strings.Split(o.appPongField, ".")
		id := strings.Split(o.idField, ".")
		if o.idField == "" {
			id = []string{"id"}
		}
		ws.Control = func(frame []byte) (transport.FrameKind, error) {
			if isReply(frame, pong, id) {
				return transport.FrameReply, nil
			}
			return transport.FrameMessage, nil
		}
	}
}

// isReply reports whether frame is a JSON object that has a value at the
// path pong and none (or null) at the path id: the reply to a ping rather
// than a message.
func isReply(frame []byte, pong, id []string) bool {
	b := bytes.TrimSpace(frame)
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return false
	}
	if _, ok := lookup(obj, pong); !ok {
		return false
	}
	v, ok := lookup(obj, id)
	return !ok || string(v) == "null"
}

// lookup follows path down nested objects from obj and returns the raw
// value found there.
func lookup(obj map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	for i, key := range path {
		v, ok := obj[key]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return bytes.TrimSpace(v), true
		}
		obj = nil
		if json.Unmarshal(v, &obj) != nil || obj == nil {
			return nil, false
		}
	}
	return nil, false
}

// validPath reports whether path, dot-separated, has no empty key.
func validPath(path string) bool {
	for _, key := range strings.Split(path, ".") {
		if key == "" {
			return false
		}
	}
	return true
}
