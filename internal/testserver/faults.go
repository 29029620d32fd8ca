package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// pathState is what the server counts and which faults are armed for one
// path. The Server's mutex guards it.
type pathState struct {
	requests   int
	live       int
	lastCursor string

	disabled   int // status for every request; 0 = off
	failN      int // requests left to fail
	failStatus int
	failRetry  time.Duration
	stall      bool

	oversized     bool // one-shot: an extra message without id
	oversizedSize int
	malformed     bool // one-shot: a malformed delivery
}

// globalFaults are the faults that belong to one transport only.
type globalFaults struct {
	refuseWS  int           // status answering /ws upgrades; 0 = accept
	sseType   string        // content type answering /sse; "" = normal
	sseBuffer bool          // hold /sse bytes like a buffering proxy
	sseRetry  time.Duration // retry: field at stream start; 0 = none
}

// admission is the verdict on one request before its handler serves it.
type admission struct {
	status      int // answer with this status instead of serving
	retryAfter  time.Duration
	reason      string
	contentType string // /sse: answer 200 with this content type instead
	challenge   bool   // refused by RequireToken: add WWW-Authenticate

	cursor uint64   // where the answer starts
	stall  bool     // accept, then send nothing
	conn   net.Conn // the request's connection
}

// state returns the path's state, panicking on an unknown path: passing one is
// a bug in the calling test.
func (s *Server) state(path string) *pathState {
	ps, ok := s.paths[path]
	if !ok {
		panic(fmt.Sprintf("testserver: unknown path %q (want /ws, /sse, /long or /poll)", path))
	}
	return ps
}

// cursorOf returns the resume cursor a request carries.
func cursorOf(path string, r *http.Request) string {
	if path == PathSSE {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			return id
		}
	}
	return r.URL.Query().Get("since")
}

// admit counts a request and decides, in the documented order, whether a
// fault answers it or how it is served. authorized is the verdict of
// RequireToken's check on the request.
func (s *Server) admit(path string, r *http.Request, authorized bool) admission {
	raw := cursorOf(path, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.state(path)
	ps.requests++
	ps.lastCursor = raw
	s.notifyLocked()
	switch {
	case r.Method != http.MethodGet:
		return admission{status: http.StatusMethodNotAllowed}
	case !authorized:
		s.auth.refused++
		return admission{status: http.StatusUnauthorized, reason: refusedReason, challenge: true}
	case ps.disabled != 0:
		return admission{status: ps.disabled}
	case ps.failN > 0:
		ps.failN--
		return admission{status: ps.failStatus, retryAfter: ps.failRetry}
	case path == PathWebSocket && s.faults.refuseWS != 0:
		return admission{status: s.faults.refuseWS, reason: "websocket refused by test server"}
	case path == PathSSE && s.faults.sseType != "":
		return admission{contentType: s.faults.sseType}
	}
	cursor, err := s.log.parseCursor(raw)
	if err != nil {
		return admission{status: http.StatusBadRequest, reason: err.Error()}
	}
	return admission{cursor: cursor, stall: ps.stall}
}

// writeWrongContentType answers /sse as a misconfigured server or proxy would.
func writeWrongContentType(w http.ResponseWriter, ct string) {
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("this is not an event stream\n"))
}

// takeOversizedLocked consumes the path's pending oversized message, if any,
// and returns its data. s.mu must be held.
func (s *Server) takeOversizedLocked(path string) []byte {
	ps := s.paths[path]
	if !ps.oversized {
		return nil
	}
	ps.oversized = false
	return oversizedData(ps.oversizedSize)
}

// takeMalformedLocked consumes the path's pending malformed delivery. s.mu
// must be held.
func (s *Server) takeMalformedLocked(path string) bool {
	ps := s.paths[path]
	m := ps.malformed
	ps.malformed = false
	return m
}

// set runs f under the lock with the path's state, then wakes every waiter so
// that live streams see the change.
func (s *Server) set(path string, f func(*pathState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.state(path))
	s.notifyLocked()
}

// DropAll cuts every connection at the TCP level: no close frame, no final
// chunk, no response to a held request. It returns how many requests being
// served (streams, held long polls, stalled requests) it cut; idle keep-alive
// connections are closed too but not counted.
func (s *Server) DropAll() int {
	s.mu.Lock()
	var victims []*stream
	for st := range s.streams {
		if !st.killed {
			st.killed = true
			s.paths[st.path].live--
			victims = append(victims, st)
		}
	}
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()

	// Close the sockets first, so that a handler woken by kill can no longer
	// write anything (not even the final chunk) when it returns.
	for _, c := range conns {
		_ = c.Close()
	}
	for _, st := range victims {
		if st.conn != nil {
			_ = st.conn.Close()
		}
		close(st.kill)
	}
	return len(victims)
}

// RefuseWebSocket makes /ws answer upgrade requests with status instead of
// 101, as a proxy that does not pass WebSockets would. 0 accepts again.
func (s *Server) RefuseWebSocket(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.refuseWS = status
	s.notifyLocked()
}

// SetSSEContentType makes /sse answer 200 with content type ct and a short
// plain body instead of an event stream. "" restores text/event-stream.
func (s *Server) SetSSEContentType(ct string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.sseType = ct
	s.notifyLocked()
}

// BufferSSE makes /sse act like a buffering proxy: it sends the headers and
// then holds every byte (events, comments, retry) instead of sending it.
// Held bytes go out only when BufferSSE(false) is called while the stream
// lives, or when more than 1 MiB has piled up (as a full proxy buffer would
// flush); a stream that ends first loses them. It applies to live streams at
// once.
func (s *Server) BufferSSE(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.sseBuffer = on
	s.notifyLocked()
}

// SetSSERetry makes every new /sse stream start with a retry: field of d in
// milliseconds, so clients can be tested for honouring it. 0 (the default)
// sends none.
func (s *Server) SetSSERetry(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.sseRetry = max(d, 0)
	s.notifyLocked()
}

// Stall makes requests on path that arrive while it is on accept and then
// send nothing: /ws completes the upgrade and then neither writes nor
// answers pings; /sse sends the headers and then nothing, not even comments;
// /long and /poll never answer. A stalled request stays stalled after
// Stall(path, false) and ends only on DropAll, Close or when the client goes
// away.
func (s *Server) Stall(path string, on bool) {
	s.set(path, func(ps *pathState) { ps.stall = on })
}

// FailNext makes the next n requests on path fail with status, with a
// Retry-After header of retryAfter rounded up to whole seconds when it is
// positive. On /ws the upgrade is refused with it. Status 204 on /sse and
// 410 on /long and /poll are the end-of-stream answers. It replaces any
// failures still pending on path.
func (s *Server) FailNext(path string, n int, status int, retryAfter time.Duration) {
	s.set(path, func(ps *pathState) {
		ps.failN, ps.failStatus, ps.failRetry = max(n, 0), status, retryAfter
	})
}

// Disable makes every request on path fail with status until Disable(path, 0).
func (s *Server) Disable(path string, status int) {
	s.set(path, func(ps *pathState) { ps.disabled = status })
}

// InjectOversized arms, once, an extra message without a log id ahead of the
// next delivery on path. Its data is a JSON string whose encoding, quotes
// included, is size bytes (at least 2); the wire object around it adds about
// ten bytes. /ws sends it as its own frame and /sse as its own event without
// id:, both at once if a stream is live; /long and /poll put it first in the
// next response, waking a held long poll.
func (s *Server) InjectOversized(path string, size int) {
	s.set(path, func(ps *pathState) { ps.oversized, ps.oversizedSize = true, size })
}

// InjectMalformed arms, once, a malformed delivery on path: /ws sends the
// text frame `not json{`; /sse sends a line of garbage without a colon and a
// blank line; /long and /poll answer the next request (a held long poll at
// once) with 200, Content-Type text/html and the body <html>oops</html>.
func (s *Server) InjectMalformed(path string) {
	s.set(path, func(ps *pathState) { ps.malformed = true })
}

// CloseWebSockets closes every live WebSocket with a close frame carrying
// code and reason (1000 is the clean end of stream). It returns at once;
// each connection's handler performs the close handshake. A code that may
// not be sent on the wire (such as 1005 or 1006) closes the connection
// without a close frame, and so does a reason over 123 bytes.
func (s *Server) CloseWebSockets(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		if st.path == PathWebSocket && !st.killed {
			st.wsClosing, st.wsCode, st.wsReason = true, code, reason
		}
	}
	s.notifyLocked()
}

// Live returns how many requests on path are being served now: open
// WebSockets and SSE streams, held or in-flight polls, stalled requests.
// Requests answered by a fault are not counted.
func (s *Server) Live(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(path).live
}

// Requests returns how many requests, WebSocket upgrades included, path has
// received, whatever their answer. Sends (POSTs) are not counted.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(path).requests
}

// LastCursor returns the resume cursor of the most recent request on path as
// sent (the since parameter, or Last-Event-ID on /sse), "" when none.
func (s *Server) LastCursor(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(path).lastCursor
}

// WaitLive blocks until Live(path) >= n. It returns ctx.Err() when ctx ends
// first and ErrClosed when the server closes first.
func (s *Server) WaitLive(ctx context.Context, path string, n int) error {
	s.mu.Lock()
	ps := s.state(path)
	s.mu.Unlock()
	return s.waitCond(ctx, true, func() bool { return ps.live >= n })
}

// WaitRequests blocks until Requests(path) >= n. It returns ctx.Err() when
// ctx ends first and ErrClosed when the server closes first.
func (s *Server) WaitRequests(ctx context.Context, path string, n int) error {
	s.mu.Lock()
	ps := s.state(path)
	s.mu.Unlock()
	return s.waitCond(ctx, true, func() bool { return ps.requests >= n })
}
