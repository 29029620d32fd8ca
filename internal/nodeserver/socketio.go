package nodeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SocketIOOptions configures a SocketIO server. The zero value is a
// socket.io server on a free port with socket.io's defaults: both
// transports with upgrades, pings every 25 s, no recovery, no auth.
type SocketIOOptions struct {
	// Port is the loopback port to listen on; 0 lets the server pick one.
	// Restart reuses whatever it got.
	Port int
	// Path is the Engine.IO path. Default "/socket.io/".
	Path string
	// Recovery enables connectionStateRecovery (skipMiddlewares true), with
	// MaxDisconnection as its maxDisconnectionDuration (default 2 minutes).
	Recovery         bool
	MaxDisconnection time.Duration
	// Transports are the engine transports served: "polling,websocket" by
	// default, or "polling", or "websocket".
	Transports string
	// NoUpgrades sets allowUpgrades: false.
	NoUpgrades bool
	// PingInterval and PingTimeout; zero keeps socket.io's defaults.
	PingInterval, PingTimeout time.Duration
	// Auth is the namespaces' middleware: "" none, "refuse" (every CONNECT
	// refused "Not authorized"), or "token:T" (only auth.token T gets in,
	// others are refused "Not authorized: bad token").
	Auth string
	// Stdout and Stderr receive the node process's output (the listening
	// line excepted). Nil discards it.
	Stdout, Stderr io.Writer
}

// SocketIO is a running node socketio.js: a socket.io 4.8 server with the
// namespaces "/" and "/chat", each socket's events recorded, and admin
// controls. Its methods are safe for concurrent use; the caller closes it.
type SocketIO struct {
	opts  SocketIOOptions
	node  string
	dir   string
	addr  string // fixed by the first start
	port  int
	admin *http.Client

	mu     sync.Mutex
	proc   *proc
	closed bool
}

// SocketIOStats are the server's counters since the process started.
type SocketIOStats struct {
	Handshakes    map[string]int // engine sessions opened, by first transport
	Upgrades      int            // engine sessions upgraded to WebSocket
	Heartbeats    int            // pongs received
	LastHeartbeat int64          // when the last pong came, in ms since the epoch
	EngineCloses  []string       // why engine sessions closed, oldest first
	Connects      int            // namespace connections
	Recovered     int            // of which recovered their state
	Refused       int            // CONNECTs refused by the auth middleware
	Disconnects   []struct {
		Nsp, Reason string
	}
	Received []struct {
		Nsp, Event string
		Args       []json.RawMessage
	}
	Acks  []json.RawMessage            // answers to EmitWithAck
	Auths []map[string]json.RawMessage // auth objects the middleware saw
	Open  int                          // engine sessions open now
	// Namespaces has, for "/" and "/chat": the sockets connected, the
	// socket ids the adapter knows (those broadcasts reach), the sessions
	// kept for recovery and the packets kept for it.
	Namespaces map[string]struct{ Sockets, Sids, Sessions, Packets int }
}

// StartSocketIO runs node socketio.js on 127.0.0.1 and returns once it
// accepts requests, or when ctx ends. Like Start, it fails with an error
// naming the fix when node or its packages are missing.
func StartSocketIO(ctx context.Context, opts SocketIOOptions) (*SocketIO, error) {
	node, dir, err := lookNode()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		return nil, fmt.Errorf("nodeserver: package socket.io is not installed in %s (run: npm ci --prefix internal/nodeserver)", dir)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("nodeserver: bad port %d", opts.Port)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	s := &SocketIO{opts: opts, node: node, dir: dir, port: opts.Port,
		admin: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startLocked(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// args returns node's command line after "socketio.js".
func (s *SocketIO) args() []string {
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
	o := s.opts
	a := []string{"--port", strconv.Itoa(s.port)}
	if o.Path != "" {
		a = append(a, "--path", o.Path)
	}
	if o.Recovery {
		a = append(a, "--recovery")
	}
	if o.MaxDisconnection > 0 {
		a = append(a, "--max-disconnection", ms(o.MaxDisconnection))
	}
	if o.Transports != "" {
		a = append(a, "--transports", o.Transports)
	}
	if o.NoUpgrades {
		a = append(a, "--no-upgrades")
	}
	if o.PingInterval > 0 {
		a = append(a, "--ping-interval", ms(o.PingInterval))
	}
	if o.PingTimeout > 0 {
		a = append(a, "--ping-timeout", ms(o.PingTimeout))
	}
	if o.Auth != "" {
		a = append(a, "--auth", o.Auth)
	}
	return a
}

// startLocked starts a process and waits for its listening line. s.mu is held.
func (s *SocketIO) startLocked(ctx context.Context) error {
	p, err := spawn(s.node, s.dir, "socketio.js", s.args(), s.opts.Stdout, s.opts.Stderr)
	if err != nil {
		return err
	}
	addr, err := p.listening(ctx)
	if err != nil {
		return err
	}
	_, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || (s.port != 0 && port != s.port) {
		_ = p.kill()
		return fmt.Errorf("nodeserver: node announced %q, want port %d", addr, s.port)
	}
	if s.addr == "" {
		s.port, s.addr = port, addr
	}
	s.proc = p
	return nil
}

// Addr returns "127.0.0.1:PORT".
func (s *SocketIO) Addr() string { return s.addr }

// URL returns "http://127.0.0.1:PORT": with a path, the URL of a
// namespace for the Socket.IO transport.
func (s *SocketIO) URL() string { return "http://" + s.addr }

// Emit emits event with args to every socket of namespace nsp (a
// broadcast, so that with recovery on it gets an offset). An argument
// {"$binary": "<base64>"} is sent as a binary attachment.
func (s *SocketIO) Emit(ctx context.Context, nsp, event string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return s.call(ctx, http.MethodPost, "/admin/emit", map[string]any{"nsp": nsp, "event": event, "args": args}, nil)
}

// EmitWithAck emits event asking every socket of nsp for an ack; the
// answers appear in SocketIOStats.Acks.
func (s *SocketIO) EmitWithAck(ctx context.Context, nsp, event string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return s.call(ctx, http.MethodPost, "/admin/emit-ack", map[string]any{"nsp": nsp, "event": event, "args": args}, nil)
}

// Stream starts emitting count events named event, {"n": i} for i from 0,
// to namespace nsp, one every `every` (zero: as fast as node goes), in the
// background. A new Stream replaces the one under way.
func (s *SocketIO) Stream(ctx context.Context, nsp, event string, count int, every time.Duration) error {
	return s.call(ctx, http.MethodPost, "/admin/stream",
		map[string]any{"nsp": nsp, "event": event, "count": count, "every": every.Milliseconds()}, nil)
}

// StreamStatus reports how many events of the current stream were emitted.
func (s *SocketIO) StreamStatus(ctx context.Context) (emitted int, done bool, err error) {
	var out struct {
		Emitted int
		Done    bool
	}
	err = s.call(ctx, http.MethodGet, "/admin/stream", nil, &out)
	return out.Emitted, out.Done, err
}

// Drop ends every Engine.IO session as a failed transport does (the
// server saves their namespace state for recovery) and cuts every TCP
// connection, as a network failure would. It returns how many sessions
// there were.
func (s *SocketIO) Drop(ctx context.Context) (int, error) {
	var out struct{ Dropped int }
	err := s.call(ctx, http.MethodPost, "/admin/drop", nil, &out)
	return out.Dropped, err
}

// CutTCP cuts every TCP connection to the server and nothing else: a poll
// or WebSocket broken under the server ends its session as a failed
// transport, but an idle keep-alive connection's loss goes unseen (an HTTP
// client replaces it). It returns how many connections it cut.
func (s *SocketIO) CutTCP(ctx context.Context) (int, error) {
	var out struct{ Cut int }
	err := s.call(ctx, http.MethodPost, "/admin/cut-tcp", nil, &out)
	return out.Cut, err
}

// Forget cuts every connection, as Drop does, and then forgets the
// sessions the server saved for recovery, as a restart or an expired
// recovery window would: the reconnections cannot recover. It returns how
// many sessions it forgot.
func (s *SocketIO) Forget(ctx context.Context) (int, error) {
	var out struct{ Forgotten int }
	err := s.call(ctx, http.MethodPost, "/admin/forget", nil, &out)
	return out.Forgotten, err
}

// DisconnectNamespace disconnects every socket of nsp from the server's
// side.
func (s *SocketIO) DisconnectNamespace(ctx context.Context, nsp string) error {
	return s.call(ctx, http.MethodPost, "/admin/disconnect", map[string]string{"nsp": nsp}, nil)
}

// Stats returns the server's counters.
func (s *SocketIO) Stats(ctx context.Context) (SocketIOStats, error) {
	var out SocketIOStats
	err := s.call(ctx, http.MethodGet, "/admin/stats", nil, &out)
	return out, err
}

// Restart kills the process and starts it again on the same port: every
// session and every event kept for recovery is forgotten.
func (s *SocketIO) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.proc != nil {
		if err := s.proc.kill(); err != nil {
			return err
		}
		s.proc = nil
	}
	return s.startLocked(ctx)
}

// Close stops the process, asking it with SIGTERM first, and returns once
// it and its goroutine have finished. Calling it again does nothing.
func (s *SocketIO) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.admin.CloseIdleConnections()
	p := s.proc
	s.proc = nil
	if p == nil {
		return nil
	}
	return p.stop(stopGrace)
}

func (s *SocketIO) call(ctx context.Context, method, path string, in, out any) error {
	return callJSON(ctx, s.admin, s.URL(), method, path, in, out)
}
