package socketio

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
)

// testCtx bounds every wait of a test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts a test server for the test.
func newServer(t *testing.T, opts siotest.Options) *siotest.Server {
	t.Helper()
	srv := siotest.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// carriers records the carrier changes a session reports.
type carriers struct {
	mu      sync.Mutex
	changes []string
	changed chan struct{}
}

func newCarriers() *carriers { return &carriers{changed: make(chan struct{})} }

func (c *carriers) report(from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes = append(c.changes, from+">"+to)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *carriers) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.changes...)
}

// waitFor waits until the changes include want.
func (c *carriers) waitFor(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	for {
		c.mu.Lock()
		for _, ch := range c.changes {
			if ch == want {
				c.mu.Unlock()
				return
			}
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			t.Fatalf("no carrier change %q; got %q", want, c.list())
		}
	}
}

// session returns a transport.Session that records carriers in c.
func (c *carriers) session() *transport.Session {
	return &transport.Session{Carrier: c.report}
}

// open opens tr with req, failing the test on error; the stream is closed
// at the end of the test.
func open(t *testing.T, ctx context.Context, tr *Transport, req transport.Request) transport.Stream {
	t.Helper()
	st, err := tr.Open(ctx, req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// next reads one message, failing the test on error.
func next(t *testing.T, ctx context.Context, st transport.Stream) transport.Message {
	t.Helper()
	m, err := st.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return m
}

// wantMsg checks a message's id, event and data.
func wantMsg(t *testing.T, m transport.Message, id, event, data string) {
	t.Helper()
	if m.Gap || m.ID != id || m.Event != event || !jsonEqual(m.Data, []byte(data)) {
		t.Fatalf("message = {ID:%q Event:%q Data:%s Gap:%v}, want {ID:%q Event:%q Data:%s}", m.ID, m.Event, m.Data, m.Gap, id, event, data)
	}
}

// classOf returns the class of a *transport.Error, failing otherwise.
func classOf(t *testing.T, err error) transport.Class {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *transport.Error", err, err)
	}
	return te.Class
}

// waitStats waits for cond on the server's counters.
func waitStats(t *testing.T, ctx context.Context, srv *siotest.Server, cond func(siotest.Stats) bool) {
	t.Helper()
	if err := srv.Wait(ctx, cond); err != nil {
		t.Fatal(err)
	}
}
