package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/anysub/anysub/transport"
)

// scriptTransport is an in-memory transport for tests of the supervisor's
// timing, run inside testing/synctest. Each Open consumes the next step of
// its script; when the script runs out, the last step repeats.
type scriptTransport struct {
	name string

	mu     sync.Mutex
	steps  []step
	opens  []openRecord
	notify chan struct{} // receives a value on each Open, if non-nil
}

// step is what one Open does: fail with err, or open a stream that yields
// msgs and then ends with end (blocking until closed when end is nil).
type step struct {
	err  error
	msgs []transport.Message
	end  error
}

type openRecord struct {
	cursor string
	at     time.Time
}

func (f *scriptTransport) Name() string { return f.name }

func (f *scriptTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	f.mu.Lock()
	f.opens = append(f.opens, openRecord{cursor: req.Cursor, at: time.Now()})
	st := f.steps[0]
	if len(f.steps) > 1 {
		f.steps = f.steps[1:]
	}
	f.mu.Unlock()
	if f.notify != nil {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
	if st.err != nil {
		return nil, st.err
	}
	return &scriptStream{msgs: st.msgs, end: st.end, closed: make(chan struct{})}, nil
}

func (f *scriptTransport) openCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.opens)
}

func (f *scriptTransport) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, len(f.opens))
	for i, o := range f.opens {
		out[i] = o.at
	}
	return out
}

func (f *scriptTransport) cursors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.opens))
	for i, o := range f.opens {
		out[i] = o.cursor
	}
	return out
}

type scriptStream struct {
	msgs      []transport.Message
	end       error
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *scriptStream) Next(ctx context.Context) (transport.Message, error) {
	if len(s.msgs) > 0 {
		m := s.msgs[0]
		s.msgs = s.msgs[1:]
		return m, nil
	}
	if s.end != nil {
		return transport.Message{}, s.end
	}
	select {
	case <-s.closed:
		return transport.Message{}, &transport.Error{Transport: "script", Op: "read", Class: transport.Transient, Err: errors.New("closed")}
	case <-ctx.Done():
		return transport.Message{}, &transport.Error{Transport: "script", Op: "read", Class: transport.Transient, Err: ctx.Err()}
	}
}

func (s *scriptStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func transient(name string) error {
	return &transport.Error{Transport: name, Op: "open", Class: transport.Transient, Err: errors.New("connection refused")}
}

func msgs(ids ...string) []transport.Message {
	out := make([]transport.Message, len(ids))
	for i, id := range ids {
		out[i] = transport.Message{ID: id, Data: []byte(`"` + id + `"`)}
	}
	return out
}

// feedTransport opens streams that deliver whatever the test sends on feed.
type feedTransport struct {
	name string
	feed chan transport.Message
}

func (f *feedTransport) Name() string { return f.name }

func (f *feedTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	return &feedStream{feed: f.feed, closed: make(chan struct{})}, nil
}

type feedStream struct {
	feed      chan transport.Message
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *feedStream) Next(ctx context.Context) (transport.Message, error) {
	select {
	case m := <-s.feed:
		return m, nil
	case <-s.closed:
		return transport.Message{}, &transport.Error{Transport: "feed", Op: "read", Class: transport.Transient, Err: errors.New("closed")}
	case <-ctx.Done():
		return transport.Message{}, &transport.Error{Transport: "feed", Op: "read", Class: transport.Transient, Err: ctx.Err()}
	}
}

func (s *feedStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}
