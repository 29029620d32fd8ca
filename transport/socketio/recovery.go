package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"sync"

	"github.com/anysub/anysub/transport"
)

// This file is connection state recovery, Socket.IO's resume (socket.io
// 4.6 and later, when the server enables connectionStateRecovery).
//
// The server stamps every stored event with an offset, appended as the
// event's last argument; the offset is the message's id, and so the
// subscription's cursor. The CONNECT answer carries a private session id,
// the pid. To resume, the client sends CONNECT with {"pid", "offset"}: the
// server then writes the events missed since offset, with their offsets,
// and only then its CONNECT answer. Recovery succeeded if and only if the
// answer carries the same pid. There is no failure packet: on failure the
// server just answers with a new session.
//
// The cursor travels in the Request, as for every transport. The pid must
// outlive the stream, which lasts one attempt: it is kept in the
// subscription's transport.Session (one per subscription and transport, so a
// Transport shared by several subscriptions never mixes their pids), with
// the cookie jar that keeps a load balancer's affinity cookie from one
// attempt to the next.
//
// Whenever continuity cannot be shown the stream says so with a gap marker
// (transport.Message{Gap: true}) before anything else: after a connection
// that was established once (recovery refused, or not enabled on the
// server), and on a first connection asked to resume after a cursor it
// cannot resume from.
//
// The server can recover a session only once it has seen the previous one
// end: a reconnection that comes first finds no state to recover. While
// polling, the network can break a connection without the server's
// knowing (a response it finished writing never arrives, or the link dies
// between two requests); so a stream whose poll failed sends the engine
// close packet for its old session, at Close or, failing that, at the
// next attempt before its handshake (engine.close, sayGoodbye), as
// engine.io-client does when a poll fails. A WebSocket's loss is seen by
// the server when its TCP connection closes.
//
// One limit is the server's: socket.io's in-memory adapter lets a pid be
// recovered while the server still holds a stale socket of the same id (a
// connection it has not yet found dead), and when that stale socket is
// finally cleaned up it takes the recovered one out of every room: the
// connection stays up, pings and all, but no broadcast reaches it until the
// next reconnection (socket.io issue #4880). A client cannot tell such a
// socket from a quiet one. It needs the old connection to die unseen by the
// server, as a network cut does; a server that notices the failure first,
// as it does when it ends the session itself, is not affected.

// sessionKey is the key of the state kept in a transport.Session.
type sessionKey struct{ nsp, url string }

// sessionState is what a subscription remembers between attempts. Its
// methods are safe for concurrent use.
type sessionState struct {
	mu        sync.Mutex
	pid       string // the last CONNECT answer's pid; "" without recovery
	connected bool   // a CONNECT has been answered once
	stale     string // a polling session the server may still hold (see engine.close)
	jar       http.CookieJar
}

// stateOf returns the state kept in sess for the namespace at url, or a
// fresh one when there is no session (a caller that keeps none: nothing
// is resumed across Opens then but the cursor).
func stateOf(sess *transport.Session, key sessionKey) *sessionState {
	mk := func() any {
		jar, _ := cookiejar.New(nil) // never fails without options
		return &sessionState{jar: jar}
	}
	if sess == nil {
		return mk().(*sessionState)
	}
	return sess.Value(key, mk).(*sessionState)
}

// snapshot returns the pid and whether a connection was made before.
func (s *sessionState) snapshot() (pid string, connected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid, s.connected
}

// leftOpen records sid as a polling session whose end the server may not
// have seen ("" records nothing).
func (s *sessionState) leftOpen(sid string) {
	if sid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = sid
}

// takeStale returns the session leftOpen recorded, once.
func (s *sessionState) takeStale() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid := s.stale
	s.stale = ""
	return sid
}

// connectedAs records the answer to a CONNECT.
func (s *sessionState) connectedAs(pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pid, s.connected = pid, true
}

// connectPayload is the CONNECT packet's auth object: auth (the caller's
// object, possibly nil), with pid and offset added when there is a session
// to recover (offset only when there is a cursor: the server recovers only
// when it has both).
func connectPayload(auth map[string]json.RawMessage, pid, offset string) ([]byte, error) {
	if pid == "" && len(auth) == 0 {
		return nil, nil
	}
	obj := make(map[string]json.RawMessage, len(auth)+2)
	for k, v := range auth {
		obj[k] = v
	}
	if pid != "" {
		obj["pid"], _ = json.Marshal(pid)
		if offset != "" {
			obj["offset"], _ = json.Marshal(offset)
		}
	}
	return json.Marshal(obj)
}

// mergeAuth merges the auth objects static and perAttempt, the second's
// members replacing the first's. Either may be nil; each must otherwise be
// a JSON object.
func mergeAuth(static, perAttempt json.RawMessage) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	for _, raw := range []json.RawMessage{static, perAttempt} {
		if len(raw) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, errors.New("the auth payload must be a JSON object")
		}
		if out == nil {
			out = make(map[string]json.RawMessage, len(m))
		}
		for k, v := range m {
			out[k] = v
		}
	}
	return out, nil
}

// connectAnswer is the payload of a CONNECT answer.
type connectAnswer struct {
	SID string `json:"sid"`
	PID string `json:"pid"`
}

// parseAnswer reads a CONNECT answer.
func parseAnswer(data []byte) (connectAnswer, error) {
	var a connectAnswer
	if len(data) == 0 {
		return a, nil // a Socket.IO v4 server: no sid in the answer
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("%w: CONNECT answer: %v", errSIOPacket, err)
	}
	return a, nil
}

// heldBack keeps the events replayed before the CONNECT answer, within a
// bound: past it they are all dropped and a gap is reported instead, since
// they cannot be delivered before the answer proves them recovered.
type heldBack struct {
	msgs     []transport.Message
	size     int64
	limit    int64
	overflow bool
}

func (h *heldBack) add(m transport.Message) {
	if h.overflow {
		return
	}
	h.size += int64(len(m.Data) + len(m.ID) + len(m.Event) + 64)
	if h.size > h.limit {
		h.msgs, h.overflow = nil, true
		return
	}
	h.msgs = append(h.msgs, m)
}

// resume decides what the stream delivers first, once the CONNECT answer
// has come: the held-back events when the session was recovered, a gap
// marker when continuity cannot be shown, or nothing for a fresh start.
// pid is the one sent (empty: none), cursor the offset sent.
func resume(pid string, connected bool, cursor string, answer connectAnswer, held *heldBack) []transport.Message {
	recovered := pid != "" && answer.PID == pid
	switch {
	case recovered && !held.overflow:
		return held.msgs
	case recovered: // too much replayed to hold: dropped, so say so
		return []transport.Message{{Gap: true}}
	case connected || cursor != "":
		return []transport.Message{{Gap: true}}
	}
	return nil
}
