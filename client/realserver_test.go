package client

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// These tests run the client over loopback sockets against the test server
// in the situations that span many connections: rotating credentials, sends
// through a storm of dropped connections, a long pause.

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRealServer_tokenRotation(t *testing.T) {
	const rotations = 12
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			tokens := testserver.NewTokenRotator()
			srv.RequireToken(tokens.Valid)

			var logs lockedBuffer
			cfg := testConfig(r.make(srv))
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			cfg.EventBuffer = 4096
			var calls, refreshes int
			var mu sync.Mutex
			cfg.Credentials = func(_ context.Context, failure error) (Credentials, error) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if failure != nil {
					refreshes++
				}
				return Credentials{Header: http.Header{"Authorization": {"Bearer " + tokens.Current()}}}, nil
			}
			sub := subscribe(t, cfg)

			seen := []string{tokens.Current()}
			next := 1
			for i := range rotations + 1 {
				publish(srv, 3)
				checkSequence(t, receive(t, ctx, sub, 3), next)
				next += 3
				if i == rotations {
					break
				}
				// The token expires: sessions using it are cut and new
				// requests with it refused.
				seen = append(seen, tokens.Rotate())
				srv.DropUnauthorized()
			}
			st := sub.Stats()
			if st.Duplicates != 0 || st.Messages != uint64(3*(rotations+1)) {
				t.Fatalf("stats %+v", st)
			}
			mu.Lock()
			if calls < rotations {
				t.Errorf("hook called %d times for %d rotations", calls, rotations)
			}
			mu.Unlock()
			sub.Close()
			var out strings.Builder
			for e := range sub.Events() {
				fmt.Fprintln(&out, e)
			}
			out.WriteString(logs.String())
			for _, tok := range seen {
				if strings.Contains(out.String(), tok) {
					t.Fatalf("a token shows in the events or logs:\n%s", out.String())
				}
			}
		})
	}
}

func TestRealServer_sendThroughAStorm(t *testing.T) {
	// Connections are dropped every 50-150ms (a tenth of a harsh real
	// network's 0.5-2s), some POSTs are recorded and then cut before their
	// answer, and the feed keeps publishing (so that a long poll is
	// answered before the next drop). Over HTTP, where a 2xx confirms
	// receipt, every line must be recorded exactly once: a repeated POST
	// carries the same Idempotency-Key and the server drops it. Over
	// WebSocket a nil Send only means the frame was written, so a line
	// written to a connection the server had already cut may be lost; what
	// must hold there is that no line is sent twice and no Send fails.
	const lines = 60
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			sub := subscribe(t, testConfig(r.make(srv)))
			publish(srv, 1)
			receive(t, ctx, sub, 1)

			stop := make(chan struct{})
			var bg sync.WaitGroup
			bg.Add(2)
			go func() { // the storm
				defer bg.Done()
				for i := 0; ; i++ {
					t := time.NewTimer(time.Duration(50+(i*37)%100) * time.Millisecond)
					select {
					case <-stop:
						t.Stop()
						return
					case <-t.C:
					}
					publish(srv, 1)
					srv.DropAll()
					if i%2 == 0 {
						srv.DropSendsAfterRecording(1)
					}
				}
			}()
			go func() { // a reader, so that the subscription keeps reading
				defer bg.Done()
				for {
					if _, err := sub.Next(ctx); err != nil {
						return
					}
				}
			}()
			var failed []error
			for i := range lines {
				if err := sub.Send(ctx, fmt.Appendf(nil, `{"line":%d}`, i)); err != nil {
					failed = append(failed, err)
				}
				time.Sleep(10 * time.Millisecond) // the pace of a typist: lines span the storm
			}
			reconnects := sub.Stats().Reconnects
			close(stop)
			sub.Close()
			bg.Wait()
			if len(failed) > 0 {
				t.Fatalf("sends failed: %v", failed)
			}
			// Streams notice each drop; a poll between requests may not
			// (net/http retries an idle connection's GET by itself), so
			// for polls the cut POSTs below are the storm that counts.
			streaming := r.name == transport.NameWebSocket || r.name == transport.NameSSE
			if streaming && reconnects < 3 {
				t.Fatalf("only %d reconnects during the sends: no storm to speak of", reconnects)
			}
			seen := map[string]bool{}
			for _, s := range srv.Sent() {
				if seen[string(s.Body)] {
					t.Fatalf("line %s recorded twice", s.Body)
				}
				seen[string(s.Body)] = true
			}
			if r.name == transport.NameWebSocket {
				t.Logf("websocket: %d of %d lines reached the server", len(seen), lines)
				return
			}
			if len(seen) != lines {
				t.Fatalf("server recorded %d distinct lines, want %d", len(seen), lines)
			}
			if srv.SendRepeats() == 0 {
				t.Fatal("no POST was repeated after a cut answer: the idempotency key went untested")
			}
			t.Logf("%s: %d reconnects, %d POSTs repeated after a cut answer and dropped by their key", r.name, reconnects, srv.SendRepeats())
		})
	}
}

func TestRealServer_sendWhileReconnectingGoesOutOnTheNextConnection(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t)
	cfg := testConfig(&transport.WebSocket{URL: srv.WebSocketURL()})
	sub := subscribe(t, cfg)
	publish(srv, 1)
	receive(t, ctx, sub, 1)

	srv.Disable("/ws", 503) // no connection can be made for now
	srv.DropAll()
	for e := range sub.Events() { // the client has seen the drop
		if e.Kind == EventDisconnected {
			break
		}
	}
	done := make(chan error, 1)
	go func() { done <- sub.Send(ctx, []byte("while down")) }()
	before := srv.Requests("/ws")
	if err := srv.WaitRequests(ctx, "/ws", before+2); err != nil {
		t.Fatal(err) // refused reconnects happened while Send waited
	}
	select {
	case err := <-done:
		t.Fatalf("Send returned %v while no connection existed", err)
	default:
	}
	srv.Disable("/ws", 0)
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := srv.WaitSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sent := srv.Sent()
	if len(sent) != 1 || string(sent[0].Body) != "while down" {
		t.Fatalf("server got %+v", sent)
	}
}

func TestRealServer_pauseLongerThanKeepAlive(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t) // keep-alive every 20ms
			sub := subscribe(t, testConfig(r.make(srv)))
			publish(srv, 3)
			checkSequence(t, receive(t, ctx, sub, 3), 1)

			sub.Pause()
			publish(srv, 4)
			// Stay paused for many keep-alive periods and heartbeat budgets
			// (the point is that time passes, not to wait for something),
			// and check that the second half of the pause saw no request.
			time.Sleep(150 * time.Millisecond)
			requests := srv.Requests(r.path)
			time.Sleep(150 * time.Millisecond)
			if n := srv.Live(r.path); n != 0 {
				t.Fatalf("%d connections live while paused", n)
			}
			if n := srv.Requests(r.path); n != requests {
				t.Fatalf("%d requests while paused", n-requests)
			}
			sub.Resume()
			publish(srv, 2)
			checkSequence(t, receive(t, ctx, sub, 6), 4)
			if st := sub.Stats(); st.Duplicates != 0 || st.Messages != 9 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
