package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/anysub/anysub/transport"
)

// memServer is an in-memory server with a message log, for synctest tests
// of what spans connections: resume, credentials, sends, pause. Its streams
// replay the log after the request's cursor and then follow it; they can be
// dropped all at once; it can require a bearer token; its streams can send.
type memServer struct {
	name string

	mu      sync.Mutex
	log     []transport.Message
	grew    chan struct{} // closed and replaced when the log grows or drop is called
	live    map[*memStream]bool
	token   string // when set, Open needs "Bearer <token>"
	opens   int
	auths   []string // Authorization header of every Open
	sent    [][]byte
	sendErr error // when set, the next Send fails with it
	refused int
}

func newMemServer(name string) *memServer {
	return &memServer{name: name, grew: make(chan struct{}), live: map[*memStream]bool{}}
}

func (m *memServer) Name() string { return m.name }

// publish appends messages with the next ids.
func (m *memServer) publish(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		id := strconv.Itoa(len(m.log) + 1)
		m.log = append(m.log, transport.Message{ID: id, Data: []byte(id)})
	}
	close(m.grew)
	m.grew = make(chan struct{})
}

// drop ends every live stream with a transient error.
func (m *memServer) drop() {
	m.mu.Lock()
	streams := m.live
	m.live = map[*memStream]bool{}
	m.mu.Unlock()
	for s := range streams {
		s.Close()
	}
}

func (m *memServer) setToken(tok string) {
	m.mu.Lock()
	m.token = tok
	m.mu.Unlock()
}

func (m *memServer) refusal(op string) error {
	m.refused++
	return &transport.Error{Transport: m.name, Op: op, Class: transport.Permanent, StatusCode: http.StatusUnauthorized,
		Err: errors.New("unexpected status 401 Unauthorized")}
}

func (m *memServer) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opens++
	auth := req.Header.Get("Authorization")
	m.auths = append(m.auths, auth)
	if m.token != "" && auth != "Bearer "+m.token {
		return nil, m.refusal("open")
	}
	next := 0
	if req.Cursor != "" {
		next, _ = strconv.Atoi(req.Cursor)
	}
	s := &memStream{srv: m, next: next, auth: auth, closed: make(chan struct{})}
	m.live[s] = true
	return s, nil
}

func (m *memServer) sends() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.sent...)
}

type memStream struct {
	srv       *memServer
	next      int // index of the next log entry to deliver
	auth      string
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *memStream) Next(ctx context.Context) (transport.Message, error) {
	for {
		select {
		case <-s.closed: // a dropped stream delivers nothing more
			return transport.Message{}, &transport.Error{Transport: s.srv.name, Op: "read", Class: transport.Transient, Err: net.ErrClosed}
		default:
		}
		s.srv.mu.Lock()
		if s.next < len(s.srv.log) {
			msg := s.srv.log[s.next]
			s.next++
			s.srv.mu.Unlock()
			return msg, nil
		}
		grew := s.srv.grew
		s.srv.mu.Unlock()
		select {
		case <-grew:
		case <-s.closed:
			return transport.Message{}, &transport.Error{Transport: s.srv.name, Op: "read", Class: transport.Transient, Err: net.ErrClosed}
		}
	}
}

func (s *memStream) Send(ctx context.Context, data []byte, key string) error {
	select {
	case <-s.closed:
		return &transport.Error{Transport: s.srv.name, Op: "send", Class: transport.Transient, Err: net.ErrClosed}
	default:
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if err := s.srv.sendErr; err != nil {
		s.srv.sendErr = nil
		return err
	}
	if s.srv.token != "" && s.auth != "Bearer "+s.srv.token {
		return s.srv.refusal("send")
	}
	s.srv.sent = append(s.srv.sent, append([]byte(nil), data...))
	return nil
}

func (s *memStream) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.mu.Lock()
		delete(s.srv.live, s)
		s.srv.mu.Unlock()
	})
	return nil
}
