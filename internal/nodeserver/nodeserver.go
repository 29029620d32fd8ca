package nodeserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Paths the server serves, one per transport, as in internal/testserver.
const (
	PathWebSocket = "/ws"
	PathSSE       = "/sse"
	PathLongPoll  = "/long"
	PathPoll      = "/poll"
	PathStream    = "/stream" // NDJSON over one long response, for transport.HTTPStream
)

// Defaults for zero fields of Options.
const (
	DefaultKeepAlive    = 5 * time.Second
	DefaultLongPollHold = 20 * time.Second
)

// stopGrace is how long Close lets node shut down on SIGTERM before it kills it.
const stopGrace = 3 * time.Second

// ErrClosed is returned by Restart after Close.
var ErrClosed = errors.New("nodeserver: server closed")

// Options configures a server. The zero value is a server on a free port with
// its log in memory.
type Options struct {
	// Port is the loopback port to listen on. 0 lets the server pick a free
	// one; Restart reuses whatever it got.
	Port int

	// LogFile, when set, is a file of JSON lines appended (and fsync'd) on
	// every publish before it is answered and loaded at start, so a server
	// killed and restarted resumes its ids. "" keeps the log in memory only.
	LogFile string

	// KeepAlive is the interval of SSE comment lines. Default
	// DefaultKeepAlive; negative sends none.
	KeepAlive time.Duration

	// LongPollHold is how long PathLongPoll holds a request that has nothing
	// new before answering []. Default DefaultLongPollHold; negative answers
	// at once.
	LongPollHold time.Duration

	// Stdout and Stderr receive the node process's output (the listening
	// line excepted). Nil discards it.
	Stdout, Stderr io.Writer
}

// Server is a running node server.js. Its methods are safe for concurrent
// use; the caller closes it.
type Server struct {
	opts  Options // defaults filled in, LogFile absolute
	node  string  // path of the node binary
	dir   string
	addr  string // "127.0.0.1:PORT", fixed by the first start
	port  int
	admin *http.Client

	mu     sync.Mutex // serialises process control; guards the fields below
	proc   *proc      // nil while not running
	closed bool
}

// Dir returns the directory holding server.js and node_modules. It is found
// from this source file's location, so it works from any test package.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}

// Start runs node server.js on 127.0.0.1 and returns once it accepts
// requests, or when ctx ends. It fails with an error naming the fix when node
// is missing or its packages are not installed.
func Start(ctx context.Context, opts Options) (*Server, error) {
	node, dir, err := lookNode()
	if err != nil {
		return nil, err
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("nodeserver: bad port %d", opts.Port)
	}
	if opts.LogFile != "" {
		if opts.LogFile, err = filepath.Abs(opts.LogFile); err != nil {
			return nil, fmt.Errorf("nodeserver: log file: %w", err)
		}
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.LongPollHold == 0 {
		opts.LongPollHold = DefaultLongPollHold
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	s := &Server{
		opts: opts,
		node: node,
		dir:  dir,
		port: opts.Port,
		// No keep-alive: DropAll cuts idle connections, and admin calls
		// must not trip over one it cut.
		admin: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startLocked(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// args returns node's command line after "server.js".
func (s *Server) args() []string {
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "0"
		}
		return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
	}
	a := []string{"--port", strconv.Itoa(s.port), "--keepalive", ms(s.opts.KeepAlive), "--hold", ms(s.opts.LongPollHold)}
	if s.opts.LogFile != "" {
		a = append(a, "--log", s.opts.LogFile)
	}
	return a
}

// startLocked starts a process and waits for its listening line. s.mu is held.
func (s *Server) startLocked(ctx context.Context) error {
	p, err := spawn(s.node, s.dir, "server.js", s.args(), s.opts.Stdout, s.opts.Stderr)
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
		// Only the first start sets the address; a restart must come back
		// on the same one, so Addr and the URLs never change and need no
		// lock.
		s.port, s.addr = port, addr
	}
	s.proc = p
	return nil
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// URL returns "http://127.0.0.1:PORT".
func (s *Server) URL() string { return "http://" + s.addr }

// WebSocketURL returns the WebSocket endpoint, "ws://127.0.0.1:PORT/ws".
func (s *Server) WebSocketURL() string { return "ws://" + s.addr + PathWebSocket }

// SSEURL returns the Server-Sent Events endpoint.
func (s *Server) SSEURL() string { return s.URL() + PathSSE }

// LongPollURL returns the long-polling endpoint.
func (s *Server) LongPollURL() string { return s.URL() + PathLongPoll }

// StreamURL returns the URL of the NDJSON stream, for transport.HTTPStream.
func (s *Server) StreamURL() string { return s.URL() + PathStream }

// PollURL returns the polling endpoint.
func (s *Server) PollURL() string { return s.URL() + PathPoll }

// Kill ends the node process with SIGKILL, as a crash would, and returns once
// it has exited. It does nothing when the process is not running.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killLocked()
}

func (s *Server) killLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	return p.kill()
}

// Restart kills the process if it is running and starts it again on the same
// port with the same options (and so the same LogFile). Without a LogFile the
// new process starts with an empty log and ids from "1" again.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.killLocked(); err != nil {
		return err
	}
	return s.startLocked(ctx)
}

// Close stops the process, asking it with SIGTERM first, and returns once it
// and every goroutine of the package have finished. Calling it again does
// nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.admin.CloseIdleConnections()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	return p.stop(stopGrace)
}
