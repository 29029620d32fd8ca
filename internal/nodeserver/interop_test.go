//go:build interop

package nodeserver_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// The tests in this file run the real anysub client against server.js over
// loopback: the same behaviours client/suite_test.go and ladder_test.go check
// against internal/testserver, now against express and ws.

// hold is the server's long-poll hold and the LongPoll transport's Hold.
const hold = 200 * time.Millisecond

// interopOptions are the server options of these tests: keep-alive comments
// well inside the SSE idle budget, short long-poll holds.
var interopOptions = nodeserver.Options{KeepAlive: 20 * time.Millisecond, LongPollHold: hold}

// rung is one transport of the server.
type rung struct {
	name string
	path string
	make func(srv *nodeserver.Server) transport.Transport
}

var rungs = []rung{
	{transport.NameWebSocket, nodeserver.PathWebSocket, func(srv *nodeserver.Server) transport.Transport {
		return &transport.WebSocket{URL: srv.WebSocketURL()}
	}},
	{transport.NameSSE, nodeserver.PathSSE, func(srv *nodeserver.Server) transport.Transport {
		return &transport.SSE{URL: srv.SSEURL()}
	}},
	{transport.NameLongPoll, nodeserver.PathLongPoll, func(srv *nodeserver.Server) transport.Transport {
		return &transport.LongPoll{URL: srv.LongPollURL(), Hold: hold}
	}},
	{transport.NamePoll, nodeserver.PathPoll, func(srv *nodeserver.Server) transport.Transport {
		return &transport.Poll{URL: srv.PollURL(), Interval: 10 * time.Millisecond}
	}},
}

// streamRung is the NDJSON HTTP stream, kept out of rungs (the ladder of
// these tests) but run by the tests of each transport alone.
var streamRung = rung{transport.NameStream, nodeserver.PathStream, func(srv *nodeserver.Server) transport.Transport {
	return &transport.HTTPStream{URL: srv.StreamURL(), Format: transport.FormatNDJSON}
}}

// eachTransport is rungs and streamRung.
func eachTransport() []rung { return append(rungs[:len(rungs):len(rungs)], streamRung) }

// fullLadder returns every transport of srv, best first.
func fullLadder(srv *nodeserver.Server) []transport.Transport {
	out := make([]transport.Transport, len(rungs))
	for i, r := range rungs {
		out[i] = r.make(srv)
	}
	return out
}

// config is a client config fast enough for loopback tests: linear backoff
// without jitter, 100ms heartbeats, no upgrade probes.
func config(trs ...transport.Transport) client.Config {
	return client.Config{
		Transports:        trs,
		Backoff:           backoff.Linear{Initial: 5 * time.Millisecond, Step: 5 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: -1},
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  100 * time.Millisecond,
		UpgradeInterval:   -1,
		EventBuffer:       1024,
	}
}

func subscribe(t *testing.T, cfg client.Config) *client.Subscription {
	t.Helper()
	sub, err := client.Subscribe(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

// receive reads n messages.
func receive(t *testing.T, ctx context.Context, sub *client.Subscription, n int) []client.Message {
	t.Helper()
	out := make([]client.Message, 0, n)
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
func checkSequence(t *testing.T, msgs []client.Message, from int) {
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

// outage cuts every connection and keeps path answering 503 while n
// messages are published and the subscriber has retried at least once, so
// the subscriber must fetch them by resuming from its cursor.
func outage(t *testing.T, ctx context.Context, srv *nodeserver.Server, path string, n int) {
	t.Helper()
	setDisabled(t, ctx, srv, path, 503)
	if err := srv.DropAll(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, ctx, srv, n)
	before, err := srv.Requests(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	waitRequests(t, ctx, srv, path, before+1) // refused while the messages wait
	setDisabled(t, ctx, srv, path, 0)
}

func TestInterop_inOrderAndResumeAfterDrop(t *testing.T) {
	for _, r := range eachTransport() {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := start(t, interopOptions)
			sub := subscribe(t, config(r.make(srv)))

			publishN(t, ctx, srv, 5)
			got := receive(t, ctx, sub, 5)
			checkSequence(t, got, 1)
			for i, m := range got {
				if m.Transport != r.name || m.Event != "tick" || string(m.Data) != `{"n":`+strconv.Itoa(i)+`}` {
					t.Fatalf("message %+v", m)
				}
			}

			// A bare drop, the subscriber reconnecting at once.
			if err := srv.DropAll(ctx); err != nil {
				t.Fatal(err)
			}
			publishN(t, ctx, srv, 3)
			checkSequence(t, receive(t, ctx, sub, 3), 6)

			// A drop followed by an outage during which messages arrive.
			outage(t, ctx, srv, r.path, 5)
			publishN(t, ctx, srv, 2)
			checkSequence(t, receive(t, ctx, sub, 7), 9)
			st := sub.Stats()
			// Polling has no connection for DropAll to cut: only the outage
			// shows in Reconnects there.
			if st.Reconnects < 1 || st.Duplicates != 0 || st.Messages != 15 || st.LastID != "15" || st.Transport != r.name {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// waitEvent reads events until one satisfies match.
func waitEvent(t *testing.T, ctx context.Context, sub *client.Subscription, match func(client.Event) bool) client.Event {
	t.Helper()
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatal("events closed before the expected event")
			}
			if match(e) {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("no matching event: %v (stats %+v)", ctx.Err(), sub.Stats())
		}
	}
}

func TestInterop_ladder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    func(ctx context.Context, srv *nodeserver.Server) error
		from, to string
		reason   error
	}{
		{"websocket refused to sse", func(ctx context.Context, srv *nodeserver.Server) error {
			return srv.RefuseWebSocket(ctx, 403)
		}, transport.NameWebSocket, transport.NameSSE, transport.ErrUnsupported},
		{"sse wrong content type to longpoll", func(ctx context.Context, srv *nodeserver.Server) error {
			return errors.Join(srv.RefuseWebSocket(ctx, 403), srv.SetSSEContentType(ctx, "text/html"))
		}, transport.NameSSE, transport.NameLongPoll, transport.ErrBadContentType},
		{"websocket stalls to sse", func(ctx context.Context, srv *nodeserver.Server) error {
			return srv.Stall(ctx, nodeserver.PathWebSocket, true)
		}, transport.NameWebSocket, transport.NameSSE, transport.ErrStalled},
		{"sse stalls to longpoll", func(ctx context.Context, srv *nodeserver.Server) error {
			return errors.Join(srv.RefuseWebSocket(ctx, 403), srv.Stall(ctx, nodeserver.PathSSE, true))
		}, transport.NameSSE, transport.NameLongPoll, transport.ErrStalled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := start(t, interopOptions)
			if err := tc.fault(ctx, srv); err != nil {
				t.Fatal(err)
			}
			cfg := config(fullLadder(srv)...)
			cfg.DowngradeAfter = 2
			sub := subscribe(t, cfg)
			publishN(t, ctx, srv, 3)
			e := waitEvent(t, ctx, sub, func(e client.Event) bool {
				return e.Kind == client.EventDowngraded && e.From == tc.from
			})
			if e.To != tc.to || !errors.Is(e.Err, tc.reason) {
				t.Fatalf("downgrade %v, want %s to %s because of %v", e, tc.from, tc.to, tc.reason)
			}
			publishN(t, ctx, srv, 3)
			got := receive(t, ctx, sub, 6)
			checkSequence(t, got, 1)
			if last := got[len(got)-1]; last.Transport != tc.to {
				t.Fatalf("last message over %s, want %s", last.Transport, tc.to)
			}
			downgrades := uint64(slices.IndexFunc(rungs, func(r rung) bool { return r.name == tc.to }))
			if st := sub.Stats(); st.Duplicates != 0 || st.Downgrades != downgrades {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestInterop_killAndRestartResumes(t *testing.T) {
	for _, r := range eachTransport() {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := interopOptions
			opts.LogFile = filepath.Join(t.TempDir(), "log.jsonl")
			srv := start(t, opts)
			sub := subscribe(t, config(r.make(srv)))

			publishN(t, ctx, srv, 5)
			checkSequence(t, receive(t, ctx, sub, 5), 1)
			publishN(t, ctx, srv, 2) // maybe delivered before the crash, maybe after the restart
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := srv.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			// Hold the subscriber off the restarted server until it has
			// messages the subscriber never saw, then let it resume.
			outage(t, ctx, srv, r.path, 3)
			publishN(t, ctx, srv, 2)
			got := receive(t, ctx, sub, 7)
			checkSequence(t, got, 6)
			if st := sub.Stats(); st.Duplicates != 0 || st.Messages != 12 || st.Transport != r.name {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
