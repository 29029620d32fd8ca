package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// PathSend is the path that takes nothing but sends: a POST records its
// body; other methods get 405.
const PathSend = "/send"

// maxSendBody bounds a POST body and a WebSocket frame from a client. A
// bigger POST is answered 413; a bigger frame closes the WebSocket with
// status 1009.
const maxSendBody = 16 << 20

// EchoEvent is the event name of the messages EchoSends publishes.
const EchoEvent = "echo"

// Sent is one payload a client sent: a WebSocket frame or a POST body.
type Sent struct {
	// Path is where it arrived: /ws for a WebSocket frame, else the path
	// the POST went to (/sse, /long, /poll or /send).
	Path string
	// Body is the frame or the request body, as received.
	Body []byte
	// Key is the Idempotency-Key header of a POST, "" when absent and for
	// WebSocket frames.
	Key string
	// Header is the POST's request header; for a WebSocket frame, the
	// header of the upgrade request.
	Header http.Header
}

// inboxState is what clients have sent and the faults armed for sends. The
// Server's mutex guards it.
type inboxState struct {
	sent    []Sent
	keys    map[string]struct{} // idempotency keys recorded
	repeats int

	failN      int // POSTs left to fail
	failStatus int
	dropN      int // POSTs left to cut after recording
	echo       bool
}

// SendURL returns URL()+"/send".
func (s *Server) SendURL() string { return s.url + PathSend }

// FailSends makes the next n POSTs (on any path, after the token check)
// fail with status, before anything is recorded. It replaces any failures
// still pending. WebSocket frames are not affected.
func (s *Server) FailSends(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox.failN, s.inbox.failStatus = max(n, 0), status
	s.notifyLocked()
}

// DropSendsAfterRecording makes the next n POSTs that get past the token
// check and FailSends be handled as usual (recorded, or counted as a repeat
// when their key is known) and then cut: the connection is closed without
// any response, so the client cannot tell whether the send arrived and has
// to retry with the same Idempotency-Key. It replaces any drops still
// pending. WebSocket frames are not affected.
//
// net/http's Transport retries by itself a POST carrying an
// Idempotency-Key whose reused keep-alive connection closes like this; a
// test that wants the client's own retry sends on a fresh connection.
func (s *Server) DropSendsAfterRecording(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox.dropN = max(n, 0)
	s.notifyLocked()
}

// EchoSends turns echoing on or off. While it is on, every payload recorded
// from then on (a POST or a WebSocket frame, repeats excluded) whose body
// is a JSON object with an "id" field holding a string or a number is also
// published to the log with event EchoEvent ("echo") and the body as data,
// as a chat server relays a message to every subscriber. The published
// message gets the log's next id like any other; the sender's "id" stays
// inside the data.
func (s *Server) EchoSends(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox.echo = on
	s.notifyLocked()
}

// Sent returns a copy of every payload recorded, in the order of arrival.
// Repeats of an idempotency key are not in it.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sent, len(s.inbox.sent))
	for i, m := range s.inbox.sent {
		out[i] = Sent{Path: m.Path, Body: bytes.Clone(m.Body), Key: m.Key, Header: m.Header.Clone()}
	}
	return out
}

// SendRepeats returns how many POSTs carried an Idempotency-Key that had
// already been recorded: they were answered 204 (or cut, see
// DropSendsAfterRecording) and not recorded again.
func (s *Server) SendRepeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inbox.repeats
}

// WaitSent blocks until at least n payloads have been recorded. It returns
// ctx.Err() when ctx ends first and ErrClosed when the server closes first.
func (s *Server) WaitSent(ctx context.Context, n int) error {
	return s.waitCond(ctx, true, func() bool { return len(s.inbox.sent) >= n })
}

// serveSend takes a send: a POST on /sse, /long, /poll or /send. authorized
// is the verdict of RequireToken's check. The steps: 405 for a method other
// than POST, 401 from the token check, a pending FailSends, then the record
// (or the repeat count), then 204 or, when DropSendsAfterRecording is
// pending, a cut connection.
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request, path string, authorized bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeStatus(w, http.StatusMethodNotAllowed, 0, "")
		return
	}
	if !authorized {
		s.mu.Lock()
		s.auth.refused++
		s.notifyLocked()
		s.mu.Unlock()
		writeUnauthorized(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSendBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeStatus(w, http.StatusRequestEntityTooLarge, 0, "")
		}
		return // otherwise the client has gone
	}
	key := r.Header.Get("Idempotency-Key")

	s.mu.Lock()
	in := &s.inbox
	if in.failN > 0 {
		in.failN--
		status := in.failStatus
		s.notifyLocked()
		s.mu.Unlock()
		writeStatus(w, status, 0, "send refused by test server")
		return
	}
	drop := in.dropN > 0
	if drop {
		in.dropN--
	}
	if _, seen := in.keys[key]; key != "" && seen {
		in.repeats++
		s.notifyLocked()
	} else {
		s.recordSendLocked(path, body, key, r.Header.Clone())
	}
	s.mu.Unlock()

	if drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// recordSend records a payload; see recordSendLocked.
func (s *Server) recordSend(path string, body []byte, key string, hdr http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordSendLocked(path, body, key, hdr)
}

// recordSendLocked records a payload, remembers its key, echoes it when
// EchoSends is on and wakes the waiters. It keeps body and hdr. s.mu must be
// held.
func (s *Server) recordSendLocked(path string, body []byte, key string, hdr http.Header) {
	in := &s.inbox
	in.sent = append(in.sent, Sent{Path: path, Body: body, Key: key, Header: hdr})
	if key != "" {
		if in.keys == nil {
			in.keys = make(map[string]struct{})
		}
		in.keys[key] = struct{}{}
	}
	if in.echo && hasEchoID(body) {
		s.log.append(EchoEvent, normalizeData(body))
	}
	s.notifyLocked()
}

// hasEchoID reports whether body is a JSON object with an "id" field that
// holds a string or a number.
func hasEchoID(body []byte) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil || obj == nil {
		return false
	}
	id := bytes.TrimSpace(obj["id"])
	if len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		return true
	}
	return false
}
