package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var allPaths = []string{PathWebSocket, PathSSE, PathLongPoll, PathPoll}

// fetch reads the messages path delivers for query (and header, on /sse):
// one response on /poll and /long; on /ws and /sse exactly n messages,
// followed by a check that the next one is a freshly published sentinel, so
// that nothing unexpected was in between. It returns the ids, or the HTTP
// status when the request was refused.
func fetch(t *testing.T, s *Server, path, query string, hdr http.Header, n int) ([]string, int) {
	t.Helper()
	ctx := testCtx(t)
	switch path {
	case PathPoll, PathLongPoll:
		resp := get(t, ctx, newClient(t), s.URL()+path+query, hdr)
		if resp.StatusCode != http.StatusOK {
			return nil, resp.StatusCode
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		return ids(decodeList(t, readBody(t, resp, http.StatusOK))), http.StatusOK
	case PathWebSocket:
		c, resp, err := websocket.Dial(ctx, s.WebSocketURL()+query, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		defer c.CloseNow()
		var got []string
		for len(got) < n {
			msgs, _ := frameMsgs(t, readFrame(t, ctx, c))
			got = append(got, ids(msgs)...)
		}
		id := s.Publish("sentinel", nil)
		if msgs, _ := frameMsgs(t, readFrame(t, ctx, c)); len(msgs) != 1 || msgs[0].id() != id {
			t.Errorf("after %v got %v, want sentinel %s", got, ids(msgs), id)
		}
		return got, http.StatusOK
	case PathSSE:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.SSEURL()+query, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, resp.StatusCode
		}
		sc := openSSE(t, s, query, hdr)
		var got []string
		for len(got) < n {
			got = append(got, strings.TrimPrefix(sc.event(t)[0], "id: "))
		}
		id := s.Publish("sentinel", nil)
		if b := sc.event(t); b[0] != "id: "+id {
			t.Errorf("after %v got %q, want sentinel %s", got, b, id)
		}
		return got, http.StatusOK
	}
	t.Fatalf("unknown path %s", path)
	return nil, 0
}

// TestServer_resume runs the cursor rules once per path.
func TestServer_resume(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		hdr    http.Header
		want   []string
		status int
	}{
		{"no cursor starts at the oldest retained", "", nil, []string{"3", "4", "5", "6"}, 200},
		{"empty since is no cursor", "?since=", nil, []string{"3", "4", "5", "6"}, 200},
		{"zero starts at the oldest retained", "?since=0", nil, []string{"3", "4", "5", "6"}, 200},
		{"evicted id starts at the oldest retained", "?since=1", nil, []string{"3", "4", "5", "6"}, 200},
		{"retained id", "?since=4", nil, []string{"5", "6"}, 200},
		{"newest id", "?since=6", nil, []string{}, 200},
		{"future id", "?since=7", nil, nil, 400},
		{"not a number", "?since=abc", nil, nil, 400},
		{"negative", "?since=-1", nil, nil, 400},
	}
	for _, path := range allPaths {
		t.Run(path, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newServer(t, Options{Retention: 4, LongPollHold: 10 * time.Millisecond, KeepAlive: -1})
					for i := range 6 {
						s.Publish("", fmt.Appendf(nil, "%d", i+1))
					}
					got, status := fetch(t, s, path, tt.query, tt.hdr, len(tt.want))
					if status != tt.status || (status == 200 && !slices.Equal(got, tt.want)) {
						t.Fatalf("got %v, status %d; want %v, status %d", got, status, tt.want, tt.status)
					}
				})
			}
		})
	}
}

func TestServer_resumeSSEHeader(t *testing.T) {
	tests := []struct {
		name  string
		query string
		id    string
		want  []string
	}{
		{"header alone", "", "4", []string{"5", "6"}},
		{"header wins over since", "?since=2", "5", []string{"6"}},
		{"empty header falls back to since", "?since=5", "", []string{"6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{KeepAlive: -1})
			for range 6 {
				s.Publish("", nil)
			}
			hdr := http.Header{"Last-Event-Id": {tt.id}}
			got, _ := fetch(t, s, PathSSE, tt.query, hdr, len(tt.want))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			want := tt.id
			if want == "" {
				want = strings.TrimPrefix(tt.query, "?since=")
			}
			if c := s.LastCursor(PathSSE); c != want {
				t.Errorf("LastCursor = %q, want %q", c, want)
			}
		})
	}
}

func TestServer_PublishAndURLs(t *testing.T) {
	s := newServer(t, Options{})
	if id := s.LastID(); id != "" {
		t.Errorf("LastID before publish = %q", id)
	}
	for i, want := range []string{"1", "2", "3"} {
		if id := s.Publish("e", []byte{byte('0' + i)}); id != want {
			t.Fatalf("Publish returned %q, want %q", id, want)
		}
	}
	if id := s.LastID(); id != "3" {
		t.Errorf("LastID = %q, want 3", id)
	}
	base := s.URL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("URL = %q", base)
	}
	for got, want := range map[string]string{
		s.WebSocketURL(): "ws" + strings.TrimPrefix(base, "http") + "/ws",
		s.SSEURL():       base + "/sse",
		s.LongPollURL():  base + "/long",
		s.PollURL():      base + "/poll",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Publish with a line break in the event did not panic")
		}
	}()
	s.Publish("a\nb", nil)
}

func TestServer_unknownPathPanics(t *testing.T) {
	s := newServer(t, Options{})
	defer func() {
		if recover() == nil {
			t.Error("Live on an unknown path did not panic")
		}
	}()
	s.Live("/nope")
}

func TestServer_methodAndNotFound(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t)
	put, _ := http.NewRequest(http.MethodPut, s.PollURL(), nil) // POST is a send
	resp, err := c.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp, http.StatusMethodNotAllowed)
	resp.Body.Close()
	readBody(t, get(t, testCtx(t), c, s.URL()+"/nope", nil), http.StatusNotFound)
	if n := s.Requests(PathPoll); n != 1 {
		t.Errorf("Requests(/poll) = %d, want 1", n)
	}
}

// openAll opens one live request on each streaming path and waits until the
// server counts them. It returns the SSE reader, the WebSocket and the held
// long poll.
func openAll(t *testing.T, s *Server) (*sseClient, *websocket.Conn, <-chan pollResult) {
	t.Helper()
	ctx := testCtx(t)
	sc := openSSE(t, s, "", nil)
	ws := dialWS(t, ctx, s, "")
	long := goGet(t, newClient(t), s.LongPollURL())
	for _, p := range []string{PathSSE, PathWebSocket, PathLongPoll} {
		if err := s.WaitLive(ctx, p, 1); err != nil {
			t.Fatalf("WaitLive(%s): %v", p, err)
		}
	}
	return sc, ws, long
}

// checkCut checks that each connection opened by openAll ended abruptly:
// no final chunk, no close frame, no response.
func checkCut(t *testing.T, sc *sseClient, ws *websocket.Conn, long <-chan pollResult) {
	t.Helper()
	if err := sc.end(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("sse ended with %v, want unexpected EOF", err)
	}
	_, _, err := ws.Read(testCtx(t))
	if err == nil || websocket.CloseStatus(err) != -1 {
		t.Errorf("websocket read = %v, want a cut without close frame", err)
	}
	if r := result(t, long); r.err == nil {
		t.Errorf("long poll answered %d %q, want a cut", r.status, r.body)
	}
}

func TestServer_DropAll(t *testing.T) {
	s := newServer(t, Options{LongPollHold: wait, KeepAlive: -1})
	sc, ws, long := openAll(t, s)
	if n := s.DropAll(); n != 3 {
		t.Errorf("DropAll = %d, want 3", n)
	}
	for _, p := range allPaths {
		if n := s.Live(p); n != 0 {
			t.Errorf("Live(%s) after DropAll = %d", p, n)
		}
	}
	checkCut(t, sc, ws, long)

	// The server keeps serving.
	if got, _ := fetch(t, s, PathSSE, "", nil, 0); len(got) != 0 {
		t.Errorf("after DropAll got %v", got)
	}
}

func TestServer_Close(t *testing.T) {
	s := New(Options{LongPollHold: wait, KeepAlive: -1})
	defer s.Close()
	sc, ws, long := openAll(t, s)
	// A stalled request of each kind too.
	for _, p := range allPaths {
		s.Stall(p, true)
	}
	stalledWS := dialWS(t, testCtx(t), s, "")
	stalledPoll := goGet(t, newClient(t), s.PollURL())
	if err := s.WaitLive(testCtx(t), PathPoll, 1); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for range 3 { // concurrent calls all wait
		wg.Go(s.Close)
	}
	wg.Wait()
	// Close has waited for every handler: none may be inside serving code.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{").serveWS(", ").serveSSE(", ").answerPoll(", ").park("} {
		if strings.Contains(stacks, fn) {
			t.Errorf("a handler in %s is still running after Close", fn)
		}
	}
	checkCut(t, sc, ws, long)
	if _, _, err := stalledWS.Read(testCtx(t)); err == nil {
		t.Error("stalled websocket still open after Close")
	}
	if r := result(t, stalledPoll); r.err == nil {
		t.Errorf("stalled poll answered %d", r.status)
	}

	s.Close() // idempotent
	if err := s.WaitLive(testCtx(t), PathSSE, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitLive after Close = %v, want ErrClosed", err)
	}
	if _, err := newClient(t).Get(s.PollURL()); err == nil {
		t.Error("server still accepts requests after Close")
	}
}

func TestServer_WaitContext(t *testing.T) {
	s := newServer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitLive(ctx, PathSSE, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitLive = %v, want context.Canceled", err)
	}
	if err := s.WaitRequests(ctx, PathPoll, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitRequests = %v, want context.Canceled", err)
	}
	if err := s.WaitRequests(ctx, PathPoll, 0); err != nil {
		t.Errorf("WaitRequests for a count already reached = %v", err)
	}
}

// probe makes one request on path and ends it as soon as it is answered. It
// returns the status, 200 for an accepted WebSocket.
func probe(t *testing.T, s *Server, path, query string, hdr http.Header) (int, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if path == PathWebSocket {
		c, resp, err := websocket.Dial(ctx, s.WebSocketURL()+query, &websocket.DialOptions{HTTPHeader: hdr})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return resp.StatusCode, resp.Header
		}
		c.CloseNow()
		return http.StatusOK, resp.Header
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path+query, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestServer_RequestsAndLastCursor(t *testing.T) {
	s := newServer(t, Options{LongPollHold: 10 * time.Millisecond, KeepAlive: -1})
	s.Publish("", nil)
	s.Publish("", nil)
	ctx := testCtx(t)
	for _, path := range allPaths {
		t.Run(path, func(t *testing.T) {
			for i, since := range []string{"1", "2", "zzz"} {
				probe(t, s, path, "?since="+since, nil)
				if err := s.WaitRequests(ctx, path, i+1); err != nil {
					t.Fatal(err)
				}
				if got := s.LastCursor(path); got != since {
					t.Errorf("LastCursor = %q, want %q", got, since)
				}
			}
			if n := s.Requests(path); n != 3 {
				t.Errorf("Requests = %d, want 3", n)
			}
		})
	}
}
