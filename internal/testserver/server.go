package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The paths the server answers on; fault controls take one of them.
const (
	PathWebSocket = "/ws"
	PathSSE       = "/sse"
	PathLongPoll  = "/long"
	PathPoll      = "/poll"
)

// Defaults for the zero fields of Options.
const (
	DefaultRetention    = 10000
	DefaultLongPollHold = 25 * time.Second
	DefaultKeepAlive    = 15 * time.Second
	DefaultMaxBatch     = 500
)

// ErrClosed is returned by WaitLive and WaitRequests once the server is
// closed, since the count they wait for can no longer change.
var ErrClosed = errors.New("testserver: server closed")

// Options configures a Server. The zero value of each field means its default.
type Options struct {
	// Retention is how many messages the log keeps; the oldest go first.
	// Default DefaultRetention (10000).
	Retention int
	// LongPollHold is how long /long holds a request when nothing is new
	// before it answers []. Default DefaultLongPollHold (25s).
	LongPollHold time.Duration
	// KeepAlive is the interval of ": keep-alive" comments on /sse. Default
	// DefaultKeepAlive (15s); negative turns them off. WebSockets get no
	// server-side keep-alive.
	KeepAlive time.Duration
	// MaxBatch bounds the messages in one poll or long-poll response and in
	// one WebSocket backlog array frame. Default DefaultMaxBatch (500).
	MaxBatch int
}

// withDefaults returns a copy of o with its zero fields filled in.
func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.LongPollHold <= 0 {
		o.LongPollHold = DefaultLongPollHold
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	return o
}

// Server is a running test server. All its methods are safe for concurrent
// use. The caller owns it and must call Close.
type Server struct {
	opts      Options
	url       string
	srv       *http.Server
	serveDone chan struct{} // closed when srv.Serve has returned
	closeOnce sync.Once
	done      chan struct{} // closed by Close; every handler watches it

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change of state below
	closed   bool
	log      msgLog
	paths    map[string]*pathState
	conns    map[net.Conn]http.ConnState // every open TCP connection, hijacked ones too
	streams  map[*stream]struct{}        // requests being served
	handlers int                         // handlers running
	faults   globalFaults
	auth     authState  // RequireToken (auth.go)
	inbox    inboxState // what clients send (inbox.go)
}

// stream is one request being served: a WebSocket, an SSE stream, or a poll
// or long poll waiting for its answer. The Server's mutex guards its fields.
type stream struct {
	path       string
	conn       net.Conn
	kill       chan struct{} // closed by DropAll, after conn is closed
	killed     bool
	backlogEnd uint64 // WebSocket: newest id when accepted

	wsClosing   bool // CloseWebSockets asked for a close frame
	wsCode      int
	wsReason    string
	sseHeld     int // SSE bytes held back by BufferSSE
	sseReleased int // SSE bytes written after the headers
}

type connKey struct{}

// New starts a server listening on 127.0.0.1 with a free port. It panics if it
// cannot listen, as httptest.NewServer does.
func New(opts Options) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("testserver: listen: %v", err))
	}
	s := &Server{
		opts:      opts.withDefaults(),
		url:       "http://" + ln.Addr().String(),
		serveDone: make(chan struct{}),
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		paths:     make(map[string]*pathState),
		conns:     make(map[net.Conn]http.ConnState),
		streams:   make(map[*stream]struct{}),
	}
	s.log.retention = s.opts.Retention
	mux := http.NewServeMux()
	mux.Handle(PathWebSocket, s.handle(PathWebSocket, s.serveWS))
	mux.Handle(PathSSE, s.handle(PathSSE, s.serveSSE))
	mux.Handle(PathLongPoll, s.handle(PathLongPoll, s.serveLongPoll))
	mux.Handle(PathPoll, s.handle(PathPoll, s.servePoll))
	mux.Handle(PathSend, s.handle(PathSend, nil))
	for _, p := range []string{PathWebSocket, PathSSE, PathLongPoll, PathPoll} {
		s.paths[p] = &pathState{}
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         s.trackConn,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go func() { // joined by Close through serveDone
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return s
}

// URL returns the base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// WebSocketURL returns ws://127.0.0.1:PORT/ws.
func (s *Server) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(s.url, "http") + PathWebSocket
}

// SSEURL returns URL()+"/sse".
func (s *Server) SSEURL() string { return s.url + PathSSE }

// LongPollURL returns URL()+"/long".
func (s *Server) LongPollURL() string { return s.url + PathLongPoll }

// PollURL returns URL()+"/poll".
func (s *Server) PollURL() string { return s.url + PathPoll }

// Publish appends a message and returns its id. Data that is valid JSON is
// sent as that JSON (compacted); other bytes are sent as a JSON string. Every
// live stream and held long poll wakes up to deliver it. event must not
// contain a line break (SSE could not carry it); Publish panics if it does.
func (s *Server) Publish(event string, data []byte) string {
	if strings.ContainsAny(event, "\r\n") {
		panic("testserver: Publish: event name contains a line break")
	}
	d := normalizeData(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.log.append(event, d)
	s.notifyLocked()
	return strconv.FormatUint(e.id, 10)
}

// LastID returns the id of the newest message, or "" before the first Publish.
func (s *Server) LastID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log.last == 0 {
		return ""
	}
	return strconv.FormatUint(s.log.last, 10)
}

// Close closes the listener and every connection, WebSockets included,
// without close frames, and returns once every handler and goroutine of the
// server has exited. It is idempotent; concurrent calls all wait.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.notifyLocked()
		s.mu.Unlock()

		// Cut every socket before telling the handlers, so that a handler
		// returning cannot send a final chunk or an answer.
		_ = s.srv.Close() // listener and non-hijacked connections
		<-s.serveDone     // no connection can be accepted from here on
		for _, c := range s.openConns() {
			_ = c.Close()
		}
		close(s.done)
		_ = s.waitCond(context.Background(), false, func() bool {
			return s.handlers == 0 && len(s.conns) == 0
		})
	})
}

// notifyLocked wakes everyone waiting for a change. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitCond blocks until cond, evaluated under s.mu, holds or ctx ends. With
// stopOnClose it gives up with ErrClosed once the server is closed.
func (s *Server) waitCond(ctx context.Context, stopOnClose bool, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, closed, wake := cond(), s.closed, s.changed
		s.mu.Unlock()
		switch {
		case ok:
			return nil
		case stopOnClose && closed:
			return ErrClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// trackConn records every connection from the moment it is accepted until
// net/http reports it closed. Hijacked connections stay recorded until the
// handler that hijacked them returns (see handle).
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateClosed {
		delete(s.conns, c)
		s.notifyLocked()
		return
	}
	s.conns[c] = state
}

// openConns returns every recorded connection.
func (s *Server) openConns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// handle wraps a path's handler: it counts the handler for Close, hands a
// send (a POST, or anything on /send) to the inbox, records the request,
// applies the token check, the request-level faults and the cursor check,
// and after the handler forgets a connection the handler hijacked.
func (s *Server) handle(path string, serve func(http.ResponseWriter, *http.Request, admission)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(net.Conn)
		if !s.enter() {
			writeStatus(w, http.StatusServiceUnavailable, 0, ErrClosed.Error())
			return
		}
		defer s.exit(conn)
		token, authorized := s.checkToken(r)
		if path == PathSend || (r.Method == http.MethodPost && path != PathWebSocket) {
			s.serveSend(w, r, path, authorized)
			return
		}
		a := s.admit(path, r, authorized)
		switch {
		case a.status != 0:
			if a.challenge {
				setChallenge(w.Header())
			}
			writeStatus(w, a.status, a.retryAfter, a.reason)
		case a.contentType != "":
			writeWrongContentType(w, a.contentType)
		default:
			a.conn = conn
			s.serveWithToken(conn, token, func() { serve(w, r, a) })
		}
	})
}

// enter counts a starting handler, or reports false once the server is closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers++
	return true
}

// exit uncounts a handler and closes its connection if the handler hijacked it.
func (s *Server) exit(conn net.Conn) {
	s.mu.Lock()
	hijacked := conn != nil && s.conns[conn] == http.StateHijacked
	if hijacked {
		delete(s.conns, conn)
	}
	s.handlers--
	s.notifyLocked()
	s.mu.Unlock()
	if hijacked {
		_ = conn.Close()
	}
}

// register records a request that is now being served, so that Live counts
// it and DropAll can cut it.
func (s *Server) register(path string, conn net.Conn) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &stream{path: path, conn: conn, kill: make(chan struct{}), backlogEnd: s.log.last}
	s.streams[st] = struct{}{}
	s.paths[path].live++
	s.notifyLocked()
	return st
}

// unregister forgets a stream when its handler returns.
func (s *Server) unregister(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
	if !st.killed {
		s.paths[st.path].live--
	}
	s.notifyLocked()
}

// park blocks a stalled handler until the client goes away, DropAll cuts it
// or the server closes.
func (s *Server) park(ctx context.Context, st *stream) {
	select {
	case <-ctx.Done():
	case <-st.kill:
	case <-s.done:
	}
}

// writeStatus answers with status, a Retry-After header in whole seconds
// (rounded up) when retryAfter > 0, and a short text body where a body is
// allowed.
func writeStatus(w http.ResponseWriter, status int, retryAfter time.Duration, reason string) {
	if retryAfter > 0 {
		secs := (retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	if status == http.StatusNoContent || status == http.StatusNotModified || status < 200 {
		w.WriteHeader(status)
		return
	}
	if reason == "" {
		reason = http.StatusText(status)
	}
	http.Error(w, reason, status)
}
