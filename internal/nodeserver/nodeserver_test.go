//go:build interop

package nodeserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/leakcheck"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/coder/websocket"
)

func TestServer_Publish_idsIncrease(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{})
	if id, err := srv.LastID(ctx); err != nil || id != "" {
		t.Fatalf("LastID of an empty log = %q, %v", id, err)
	}
	ids := publishN(t, ctx, srv, 3)
	if got := strings.Join(ids, ","); got != "1,2,3" {
		t.Fatalf("ids %s", got)
	}
	if id, err := srv.Publish(ctx, "", nil); err != nil || id != "4" {
		t.Fatalf("Publish(nil) = %q, %v", id, err)
	}
	if _, err := srv.Publish(ctx, "tick", json.RawMessage(`{not json`)); err == nil {
		t.Fatal("Publish accepted invalid JSON")
	}
	if _, err := srv.Publish(ctx, "two\nlines", nil); err == nil {
		t.Fatal("Publish accepted an event name that would break SSE framing")
	}
	if id, err := srv.LastID(ctx); err != nil || id != "4" {
		t.Fatalf("LastID = %q, %v", id, err)
	}
	msgs := pollAll(t, ctx, srv, "1")
	if len(msgs) != 3 || msgs[0].ID != "2" || msgs[0].Event != "tick" || string(msgs[0].Data) != `{"n":1}` ||
		msgs[2].ID != "4" || string(msgs[2].Data) != "null" {
		t.Fatalf("poll after 1: %+v", msgs)
	}
}

func TestServer_Requests_counts(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{})
	for _, path := range []string{nodeserver.PathPoll, nodeserver.PathWebSocket} {
		before, err := srv.Requests(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if path == nodeserver.PathWebSocket {
				c, _, err := websocket.Dial(ctx, srv.WebSocketURL(), &websocket.DialOptions{HTTPClient: plain(0)})
				if err != nil {
					t.Fatal(err)
				}
				c.CloseNow()
			} else if _, _, err := get(ctx, plain(0), srv.PollURL()); err != nil {
				t.Fatal(err)
			}
		}
		if after, err := srv.Requests(ctx, path); err != nil || after != before+3 {
			t.Fatalf("%s: %d requests after 3 more, had %d (%v)", path, after, before, err)
		}
	}
}

func TestServer_DropAll_cutsEveryConnection(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{KeepAlive: 20 * time.Millisecond})
	type victim struct {
		name string
		conn net.Conn
		body io.Reader
	}
	var victims []victim
	// An idle keep-alive connection, whose request was answered in full.
	conn, br, resp := rawConn(t, ctx, srv, nodeserver.PathPoll)
	if _, err := io.ReadAll(io.LimitReader(resp.Body, resp.ContentLength)); err != nil {
		t.Fatal(err)
	}
	victims = append(victims, victim{"idle keep-alive", conn, br})
	conn, br, _ = rawConn(t, ctx, srv, nodeserver.PathSSE)
	victims = append(victims, victim{"sse", conn, br})
	// A long poll with nothing to answer is held for the default 20s.
	conn, br = rawLongPoll(t, ctx, srv)
	victims = append(victims, victim{"held long poll", conn, br})

	_, wsDone := wsDial(t, ctx, srv)

	if err := srv.DropAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range victims {
		_, err := io.Copy(io.Discard, v.body) // ends at EOF or reset; a timeout means it was not cut
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: not cut: %v", v.name, err)
		}
	}
	<-wsDone
	if ctx.Err() != nil {
		t.Fatal("websocket not cut")
	}
	// The server carries on.
	if _, err := srv.Publish(ctx, "tick", nil); err != nil {
		t.Fatal(err)
	}
}

func TestServer_longPollWakesOnPublish(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{}) // holds 20s, past the test's deadline
	publishN(t, ctx, srv, 1)
	_, br := rawLongPoll(t, ctx, srv)
	publishN(t, ctx, srv, 1)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []wireMessage
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil || len(msgs) != 1 || msgs[0].ID != "2" {
		t.Fatalf("long poll answered %+v, %v", msgs, err)
	}
}

func TestServer_options(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{KeepAlive: 20 * time.Millisecond, LongPollHold: 50 * time.Millisecond})
	// An empty hold ends with [] once LongPollHold has passed.
	began := time.Now()
	resp, b, err := get(ctx, plain(0), srv.LongPollURL())
	if err != nil || resp.StatusCode != 200 || string(b) != "[]" || time.Since(began) < 50*time.Millisecond {
		t.Fatalf("empty long poll: %v %q %v after %v", resp, b, err, time.Since(began))
	}
	// SSE sends keep-alive comments.
	_, _, resp = rawConn(t, ctx, srv, nodeserver.PathSSE)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": keep-alive\n" {
		t.Fatalf("first sse line %q, %v", line, err)
	}
}

func TestServer_RefuseWebSocket(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{})
	for _, status := range []int{403, 503, 0} {
		if err := srv.RefuseWebSocket(ctx, status); err != nil {
			t.Fatal(err)
		}
		c, resp, err := websocket.Dial(ctx, srv.WebSocketURL(), &websocket.DialOptions{HTTPClient: plain(0)})
		if status == 0 {
			if err != nil {
				t.Fatalf("upgrade after RefuseWebSocket(0): %v", err)
			}
			c.CloseNow()
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("RefuseWebSocket(%d): dial %v, response %v", status, err, resp)
		}
	}
}

func TestServer_SetSSEContentType(t *testing.T) {
	ctx := testCtx(t)
	srv := start(t, nodeserver.Options{})
	for _, tc := range []struct{ set, want string }{
		{"text/html", "text/html"},
		{"application/json", "application/json"},
		{"", "text/event-stream"},
	} {
		if err := srv.SetSSEContentType(ctx, tc.set); err != nil {
			t.Fatal(err)
		}
		conn, _, resp := rawConn(t, ctx, srv, nodeserver.PathSSE)
		conn.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, tc.want) {
			t.Fatalf("after SetSSEContentType(%q): %s %q", tc.set, resp.Status, ct)
		}
	}
}

// silence is how long a stalled connection is watched for any byte.
const silence = 200 * time.Millisecond

func TestServer_Stall(t *testing.T) {
	for _, tc := range []struct {
		path string
		// alive reports whether a connection to path answers within silence.
		alive func(t *testing.T, ctx context.Context, srv *nodeserver.Server) bool
	}{
		{nodeserver.PathWebSocket, func(t *testing.T, ctx context.Context, srv *nodeserver.Server) bool {
			c, _ := wsDial(t, ctx, srv) // a stalled WebSocket still completes its upgrade
			defer c.CloseNow()
			pctx, cancel := context.WithTimeout(ctx, silence)
			defer cancel()
			return c.Ping(pctx) == nil
		}},
		{nodeserver.PathSSE, func(t *testing.T, ctx context.Context, srv *nodeserver.Server) bool {
			conn, br, resp := rawConn(t, ctx, srv, nodeserver.PathSSE)
			defer conn.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("stalled sse answered %s %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			_ = conn.SetReadDeadline(time.Now().Add(silence))
			_, err := br.ReadByte()
			return err == nil
		}},
		{nodeserver.PathLongPoll, func(t *testing.T, ctx context.Context, srv *nodeserver.Server) bool {
			_, _, err := get(ctx, plain(silence), srv.LongPollURL()) // the log has a message: answered at once
			return err == nil
		}},
		{nodeserver.PathPoll, func(t *testing.T, ctx context.Context, srv *nodeserver.Server) bool {
			_, _, err := get(ctx, plain(silence), srv.PollURL())
			return err == nil
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ctx := testCtx(t)
			// Keep-alives every 20ms would show a stalled SSE stream as live.
			srv := start(t, nodeserver.Options{KeepAlive: 20 * time.Millisecond})
			publishN(t, ctx, srv, 1)
			if !tc.alive(t, ctx, srv) {
				t.Fatal("not live before Stall")
			}
			if err := srv.Stall(ctx, tc.path, true); err != nil {
				t.Fatal(err)
			}
			if tc.alive(t, ctx, srv) {
				t.Fatal("live while stalled")
			}
			if err := srv.Stall(ctx, tc.path, false); err != nil {
				t.Fatal(err)
			}
			if !tc.alive(t, ctx, srv) {
				t.Fatal("not live after Stall off")
			}
		})
	}
}

func TestServer_KillRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		logFile bool
		wantID  string // id of the first publish after the restart
	}{
		{"with log file", true, "4"},
		{"in memory", false, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			var opts nodeserver.Options
			if tc.logFile {
				opts.LogFile = filepath.Join(t.TempDir(), "log.jsonl")
			}
			srv := start(t, opts)
			addr := srv.Addr()
			publishN(t, ctx, srv, 3)
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := srv.Kill(); err != nil {
				t.Fatalf("second Kill: %v", err)
			}
			if _, err := srv.Publish(ctx, "tick", nil); err == nil {
				t.Fatal("Publish to a killed server succeeded")
			}
			if err := srv.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if srv.Addr() != addr {
				t.Fatalf("restarted on %s, was %s", srv.Addr(), addr)
			}
			if id := publishN(t, ctx, srv, 1)[0]; id != tc.wantID {
				t.Fatalf("first id after restart %s, want %s", id, tc.wantID)
			}
			// Restart of a running server works too, and keeps the log.
			if err := srv.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			msgs := pollAll(t, ctx, srv, "")
			if !tc.logFile {
				if len(msgs) != 0 {
					t.Fatalf("in-memory log survived a restart: %+v", msgs)
				}
				return
			}
			if len(msgs) != 4 || msgs[3].ID != "4" || !bytes.Equal(msgs[3].Data, []byte(`{"n":0}`)) {
				t.Fatalf("log after restarts: %+v", msgs)
			}
		})
	}
}

func TestServer_Close(t *testing.T) {
	ctx := testCtx(t)
	srv, err := nodeserver.Start(ctx, nodeserver.Options{Stderr: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, ctx, srv, 1)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := srv.Restart(ctx); !errors.Is(err, nodeserver.ErrClosed) {
		t.Fatalf("Restart after Close = %v", err)
	}
	if _, err := srv.Publish(ctx, "tick", nil); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
	if err := srv.Kill(); err != nil {
		t.Fatalf("Kill after Close: %v", err)
	}
	if leaked := leakcheck.Check(leakcheck.Grace); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
}

func TestStart_errors(t *testing.T) {
	ctx := testCtx(t)
	if _, err := nodeserver.Start(ctx, nodeserver.Options{Port: -1}); err == nil {
		t.Fatal("Start with port -1 succeeded")
	}
	// A port already taken: node gives up after its bind retries, or ctx ends.
	srv := start(t, nodeserver.Options{})
	var port int
	fmt.Sscanf(srv.Addr(), "127.0.0.1:%d", &port)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if s2, err := nodeserver.Start(short, nodeserver.Options{Port: port}); err == nil {
		s2.Close()
		t.Fatal("a second server started on a taken port")
	}
}
