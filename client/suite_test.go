package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// Tests in this file run the client over real loopback sockets against
// internal/testserver, one behaviour suite per transport. Faults are driven
// through the server's controls; the only clocks are heartbeat budgets of
// tens of milliseconds and bounded test contexts.

// fast is a backoff quick enough for socket tests, without jitter.
var fast backoff.Policy = backoff.Linear{Initial: 5 * time.Millisecond, Step: 5 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: -1}

// rung describes one transport of the test server.
type rung struct {
	name string
	path string
	make func(srv *testserver.Server) transport.Transport
}

var rungs = []rung{
	{transport.NameWebSocket, "/ws", func(srv *testserver.Server) transport.Transport {
		return &transport.WebSocket{URL: srv.WebSocketURL()}
	}},
	{transport.NameSSE, "/sse", func(srv *testserver.Server) transport.Transport {
		return &transport.SSE{URL: srv.SSEURL()}
	}},
	{transport.NameLongPoll, "/long", func(srv *testserver.Server) transport.Transport {
		return &transport.LongPoll{URL: srv.LongPollURL(), Hold: 200 * time.Millisecond}
	}},
	{transport.NamePoll, "/poll", func(srv *testserver.Server) transport.Transport {
		return &transport.Poll{URL: srv.PollURL(), Interval: 10 * time.Millisecond}
	}},
}

func newServer(t *testing.T) *testserver.Server {
	t.Helper()
	srv := testserver.New(testserver.Options{LongPollHold: 200 * time.Millisecond, KeepAlive: 20 * time.Millisecond})
	t.Cleanup(srv.Close)
	return srv
}

// testConfig is a config with short heartbeats and backoff for socket tests.
func testConfig(trs ...transport.Transport) Config {
	return Config{
		Transports:        trs,
		Backoff:           fast,
		HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatTimeout:  100 * time.Millisecond,
		UpgradeInterval:   -1,
	}
}

func subscribe(t *testing.T, cfg Config) *Subscription {
	t.Helper()
	sub, err := Subscribe(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish appends n messages numbered from the server's next id.
func publish(srv *testserver.Server, n int) {
	for range n {
		srv.Publish("tick", []byte(fmt.Sprintf(`{"n":%d}`, time.Now().UnixNano())))
	}
}

// receive reads n messages and returns them.
func receive(t *testing.T, ctx context.Context, sub *Subscription, n int) []Message {
	t.Helper()
	out := make([]Message, 0, n)
	for range n {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d messages: %v (stats %+v)", len(out), n, err, sub.Stats())
		}
		out = append(out, m)
	}
	return out
}

// checkSequence fails unless msgs carry the ids from, from+1, ... in order.
func checkSequence(t *testing.T, msgs []Message, from int) {
	t.Helper()
	for i, m := range msgs {
		if want := strconv.Itoa(from + i); m.ID != want {
			ids := make([]string, len(msgs))
			for j, m := range msgs {
				ids[j] = m.ID
			}
			t.Fatalf("message %d has id %q, want %q; ids %v", i, m.ID, want, ids)
		}
	}
}

func TestSuite_inOrderAndResumeAfterDrop(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			sub := subscribe(t, testConfig(r.make(srv)))

			publish(srv, 5)
			got := receive(t, ctx, sub, 5)
			checkSequence(t, got, 1)
			for _, m := range got {
				if m.Transport != r.name || m.Event != "tick" || len(m.Data) == 0 {
					t.Fatalf("message %+v", m)
				}
			}

			// Take the server away: refuse the path, cut live connections,
			// publish while the subscriber cannot connect, then come back.
			srv.Disable(r.path, 503)
			srv.DropAll()
			publish(srv, 5)
			before := srv.Requests(r.path)
			if err := srv.WaitRequests(ctx, r.path, before+1); err != nil {
				t.Fatal(err) // the subscriber retried against the outage
			}
			srv.Disable(r.path, 0)
			publish(srv, 2)
			got = receive(t, ctx, sub, 7)
			checkSequence(t, got, 6)
			if c := srv.LastCursor(r.path); c == "" {
				t.Fatalf("reconnect sent no cursor")
			}
			st := sub.Stats()
			if st.Reconnects == 0 || st.Duplicates != 0 || st.Messages != 12 || st.LastID != "12" {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestSuite_oversizedMessageDropsConnectionAndCarriesOn(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			cfg := testConfig(r.make(srv))
			cfg.MaxMessageSize = 1024
			cfg.EventBuffer = 256
			sub := subscribe(t, cfg)
			publish(srv, 1)
			checkSequence(t, receive(t, ctx, sub, 1), 1)

			srv.InjectOversized(r.path, 4096)
			publish(srv, 3)
			checkSequence(t, receive(t, ctx, sub, 3), 2)
			sub.Close()
			var sawTooLarge bool
			for e := range sub.Events() {
				if e.Kind == EventDisconnected && errors.Is(e.Err, transport.ErrMessageTooLarge) {
					sawTooLarge = true
				}
			}
			if !sawTooLarge {
				t.Fatal("no disconnected event with ErrMessageTooLarge")
			}
		})
	}
}

func TestSuite_unauthorizedIsPermanent(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			srv.Disable(r.path, 401)
			sub := subscribe(t, testConfig(r.make(srv)))
			_, err := sub.Next(ctx)
			var te *transport.Error
			if !errors.As(err, &te) || te.StatusCode != 401 || !errors.Is(err, transport.ErrPermanent) {
				t.Fatalf("Next = %v, want a permanent 401 *transport.Error", err)
			}
			if n := srv.Requests(r.path); n != 1 {
				t.Fatalf("%d requests, want exactly 1 (no retry loop)", n)
			}
			if _, err2 := sub.Next(ctx); !errors.Is(err2, err) {
				t.Fatalf("second Next = %v, want the same error", err2)
			}
		})
	}
}

func TestSuite_endOfStreamIsEOF(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     rung
		fault func(srv *testserver.Server)
	}{
		{"sse 204", rungs[1], func(srv *testserver.Server) { srv.FailNext("/sse", 1, 204, 0); srv.DropAll() }},
		{"websocket close 1000", rungs[0], func(srv *testserver.Server) { srv.CloseWebSockets(1000, "done") }},
		{"longpoll 410", rungs[2], func(srv *testserver.Server) { srv.Disable("/long", 410); srv.DropAll() }},
		{"poll 410", rungs[3], func(srv *testserver.Server) { srv.Disable("/poll", 410) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			sub := subscribe(t, testConfig(tc.r.make(srv)))
			publish(srv, 2)
			checkSequence(t, receive(t, ctx, sub, 2), 1)
			tc.fault(srv)
			if _, err := sub.Next(ctx); !errors.Is(err, io.EOF) {
				t.Fatalf("Next = %v, want io.EOF", err)
			}
			if st := sub.Stats(); st.State != StateEnded {
				t.Fatalf("state %v", st.State)
			}
		})
	}
}

func TestSuite_backPressureLosesNothing(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			cfg := testConfig(r.make(srv))
			cfg.Buffer = 2
			sub := subscribe(t, cfg)
			publish(srv, 1)
			checkSequence(t, receive(t, ctx, sub, 1), 1)
			// 300 messages against a queue of 2: the reader must stall on the
			// queue rather than drop, and heartbeats must not call that dead.
			publish(srv, 300)
			got := receive(t, ctx, sub, 300)
			checkSequence(t, got, 2)
			if st := sub.Stats(); st.Duplicates != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestSubscription_closeEndsEverything(t *testing.T) {
	srv := newServer(t)
	var trs []transport.Transport
	for _, r := range rungs {
		trs = append(trs, r.make(srv))
	}
	sub := subscribe(t, testConfig(trs...))
	ctx := testCtx(t)
	if err := srv.WaitLive(ctx, "/ws", 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := sub.Next(ctx); done <- err }()
	sub.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Next = %v, want ErrClosed", err)
	}
	if sub.Stats().State != StateClosed {
		t.Fatalf("state %v", sub.Stats().State)
	}
}
