// Package siotest is a small in-process Engine.IO v4 / Socket.IO v5
// server for tests of the Socket.IO transport and of the command that uses
// it: polling, WebSocket, the upgrade between them, namespaces, CONNECT
// auth, acknowledgements, binary attachments and connection state
// recovery, with fault controls the real server lacks (stop pinging while
// keeping connections open, refuse WebSocket, cut every connection, forget
// the saved sessions).
//
// It follows the wire rules of the socket.io 4.8 server closely enough for
// a client, and no more; the judge of interoperability is the real Node.js
// server run by internal/nodeserver.
package siotest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value serves both transports with
// upgrades, no recovery, pings every 25 s with a 20 s timeout.
type Options struct {
	// PingInterval and PingTimeout are announced in the handshake and
	// applied. Defaults 25 s and 20 s.
	PingInterval, PingTimeout time.Duration
	// PollingOnly and WebSocketOnly restrict the transports served.
	PollingOnly, WebSocketOnly bool
	// NoUpgrades announces no upgrade (socket.io's allowUpgrades: false).
	NoUpgrades bool
	// Recovery enables connection state recovery: events carry offsets,
	// and sessions are kept for MaxDisconnection (default 2 minutes).
	Recovery         bool
	MaxDisconnection time.Duration
	// Path is the engine path. Default "/socket.io/".
	Path string
	// Namespaces are the namespaces served; nil serves any.
	Namespaces []string
	// Auth, when set, judges every CONNECT that the recovery does not let
	// through: a non-empty return refuses it with that message.
	Auth func(nsp string, auth map[string]any, header http.Header) string
	// Sticky makes the handshake set a cookie that every later request of
	// the session must carry, as a load balancer with cookie affinity
	// would need: without it, the request is answered "Session ID
	// unknown".
	Sticky bool
	// MaxPayload is announced as maxPayload. Default 1e6.
	MaxPayload int
}

// Stats are the server's counters.
type Stats struct {
	Handshakes      map[string]int // by transport
	Upgrades        int            // completed upgrades to WebSocket
	Probes          int            // probe pings answered
	Connects        int            // CONNECT answered with a session
	Recovered       int            // of which recovered
	Refused         int            // CONNECT_ERROR sent
	Pings           int            // pings sent
	LastPing        time.Time      // when the last ping was queued
	Pongs           int
	EngineCloses    int // close packets received from clients
	Disconnects     int // namespace DISCONNECTs received from clients
	Acks            []string
	Received        []Received // events sent by clients
	Polls           int        // polling GETs after handshakes
	Posts           int
	Overlaps        int // a GET or POST while one was in flight
	OpenSessions    int
	SocketIDs       []string // ids of connected sockets, oldest first
	CookieMisses    int      // requests refused for want of the sticky cookie
	BlockedUpgrades int
}

// Received is one event a client emitted.
type Received struct {
	Namespace string
	Event     string
	Args      json.RawMessage // the remaining arguments, a JSON array
}

// Server is a running test server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	http *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed, and replaced, on every change
	sessions map[string]*session
	nextID   int
	logs     map[string][]stored // per namespace, with recovery
	saved    map[string]saved    // pid -> what a recovery restores
	offset   int
	stats    Stats
	noPings  bool
	blockWS  bool
	wg       sync.WaitGroup // ping loops
	closed   bool
}

// stored is an event kept for recovery.
type stored struct {
	offset string
	packet string // the EVENT packet as sent, offset included
}

// saved is a disconnected socket's state.
type saved struct {
	sid, nsp string
	at       time.Time
}

// New starts a server.
func New(opts Options) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 20 * time.Second
	}
	if opts.MaxDisconnection <= 0 {
		opts.MaxDisconnection = 2 * time.Minute
	}
	if opts.Path == "" {
		opts.Path = "/socket.io/"
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 1e6
	}
	s := &Server{opts: opts, changed: make(chan struct{}), sessions: map[string]*session{},
		logs: map[string][]stored{}, saved: map[string]saved{}}
	s.stats.Handshakes = map[string]int{}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.http.URL }

// Close ends every session and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	var all []*session
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("server shutting down", true)
	}
	s.wg.Wait()
	s.http.CloseClientConnections()
	s.http.Close()
}

// touch wakes those waiting for a change. It runs with mu held.
func (s *Server) touch() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.Handshakes = make(map[string]int, len(s.stats.Handshakes))
	for k, v := range s.stats.Handshakes {
		st.Handshakes[k] = v
	}
	st.Acks = append([]string(nil), s.stats.Acks...)
	st.Received = append([]Received(nil), s.stats.Received...)
	st.OpenSessions = len(s.sessions)
	st.SocketIDs = nil
	for _, ss := range s.sessions {
		for _, sk := range ss.sockets {
			st.SocketIDs = append(st.SocketIDs, sk.id)
		}
	}
	return st
}

// Wait blocks until cond holds for the counters, or ctx ends.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.statsLocked())
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("siotest: %w; stats %+v", ctx.Err(), s.Stats())
		}
	}
}

// Emit sends event with args to every socket of namespace nsp and returns
// its offset ("" without recovery).
func (s *Server) Emit(nsp, event string, args ...any) string {
	return s.emit(nsp, event, -1, args)
}

// EmitWithAck sends event asking for an acknowledgement (id ack); it is
// not stored for recovery, as in socket.io.
func (s *Server) EmitWithAck(nsp string, ack int, event string, args ...any) {
	s.emit(nsp, event, ack, args)
}

// EmitRaw sends a Socket.IO packet (without the engine's "4"), and, for a
// binary packet, its attachments, to every socket of nsp.
func (s *Server) EmitRaw(nsp, pkt string, attachments ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if _, ok := ss.sockets[nsp]; ok {
			ss.push(out{text: "4" + pkt})
			for _, a := range attachments {
				ss.push(out{bin: a})
			}
		}
	}
}

func (s *Server) emit(nsp, event string, ack int, args []any) string {
	data := append([]any{event}, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	off := ""
	if s.opts.Recovery && ack < 0 {
		s.offset++
		off = "o" + strconv.Itoa(s.offset)
		data = append(data, off)
	}
	b, _ := json.Marshal(data)
	pkt := sioPrefix('2', nsp)
	if ack >= 0 {
		pkt += strconv.Itoa(ack)
	}
	pkt += string(b)
	if off != "" {
		s.logs[nsp] = append(s.logs[nsp], stored{offset: off, packet: pkt})
	}
	for _, ss := range s.sessions {
		if _, ok := ss.sockets[nsp]; ok {
			ss.push(out{text: "4" + pkt})
		}
	}
	return off
}

// Drop cuts every session abruptly, as a network failure would: pending
// polls and WebSockets break off. Sockets are saved for recovery.
func (s *Server) Drop() {
	s.mu.Lock()
	var all []*session
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("transport error", true)
	}
}

// Forget drops every saved session, as a restart would.
func (s *Server) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.saved)
	s.touch()
}

// StopPings stops (or restarts) the pings of every session, while keeping
// the connections open: a half-open connection as the client sees it.
func (s *Server) StopPings(stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPings = stop
	s.touch()
}

// BlockWebSocket makes WebSocket handshakes get 403, as a proxy that
// refuses upgrades would answer.
func (s *Server) BlockWebSocket(block bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blockWS = block
	s.touch()
}

// DisconnectNamespace sends DISCONNECT to every socket of nsp.
func (s *Server) DisconnectNamespace(nsp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if _, ok := ss.sockets[nsp]; ok {
			delete(ss.sockets, nsp)
			ss.push(out{text: "4" + sioPrefix('1', nsp)})
		}
	}
	s.touch()
}

// sioPrefix is a packet type with its namespace.
func sioPrefix(typ byte, nsp string) string {
	if nsp == "/" || nsp == "" {
		return string(typ)
	}
	return string(typ) + nsp + ","
}

// serves reports whether nsp is served.
func (s *Server) serves(nsp string) bool {
	if s.opts.Namespaces == nil {
		return true
	}
	for _, n := range s.opts.Namespaces {
		if n == nsp {
			return true
		}
	}
	return false
}

// engineError answers a refused polling request as engine.io does.
func engineError(w http.ResponseWriter, code int, msg string) {
	status := http.StatusBadRequest
	if code == 4 {
		status = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"code": code, "message": msg})
	w.Write(b)
}

// serve routes a request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.opts.Path) {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		engineError(w, 5, "Unsupported protocol version")
		return
	}
	tr := q.Get("transport")
	if tr != "polling" && tr != "websocket" || tr == "polling" && s.opts.WebSocketOnly || tr == "websocket" && s.opts.PollingOnly {
		engineError(w, 0, "Transport unknown")
		return
	}
	sid := q.Get("sid")
	if tr == "websocket" {
		s.serveWebSocket(w, r, sid)
		return
	}
	if sid == "" {
		if r.Method != http.MethodGet {
			engineError(w, 2, "Bad handshake method")
			return
		}
		s.handshakePolling(w, r)
		return
	}
	ss := s.session(w, r, sid)
	if ss == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		ss.serveGet(w, r)
	case http.MethodPost:
		ss.servePost(w, r)
	default:
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// session finds sid, answering the request when it cannot.
func (s *Server) session(w http.ResponseWriter, r *http.Request, sid string) *session {
	s.mu.Lock()
	ss := s.sessions[sid]
	if ss != nil && s.opts.Sticky {
		if c, err := r.Cookie("sticky"); err != nil || c.Value != sid {
			s.stats.CookieMisses++
			s.touch()
			ss = nil
		}
	}
	s.mu.Unlock()
	if ss == nil {
		engineError(w, 1, "Session ID unknown")
	}
	return ss
}

// open makes a session; it runs with mu held.
func (s *Server) open(transport string) *session {
	s.nextID++
	ss := &session{srv: s, sid: fmt.Sprintf("sid%d", s.nextID), mode: transport,
		sockets: map[string]*socket{}, wake: make(chan struct{}, 1), done: make(chan struct{}),
		pong: make(chan struct{}, 1)}
	s.sessions[ss.sid] = ss
	s.stats.Handshakes[transport]++
	s.wg.Add(1)
	go ss.pingLoop()
	s.touch()
	return ss
}

// openPacket is the handshake's open packet.
func (s *Server) openPacket(ss *session) string {
	upgrades := []string{}
	if ss.mode == "polling" && !s.opts.NoUpgrades && !s.opts.PollingOnly {
		upgrades = append(upgrades, "websocket")
	}
	b, _ := json.Marshal(map[string]any{
		"sid": ss.sid, "upgrades": upgrades,
		"pingInterval": s.opts.PingInterval.Milliseconds(), "pingTimeout": s.opts.PingTimeout.Milliseconds(),
		"maxPayload": s.opts.MaxPayload,
	})
	return "0" + string(b)
}

func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ss := s.open("polling")
	ss.header = r.Header.Clone()
	open := s.openPacket(ss)
	s.mu.Unlock()
	if s.opts.Sticky {
		http.SetCookie(w, &http.Cookie{Name: "sticky", Value: ss.sid, Path: "/"})
	}
	writePayload(w, []string{open})
}
