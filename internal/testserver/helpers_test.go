package testserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wait bounds every blocking step of a test, so that a bug fails instead of
// hanging.
const wait = 10 * time.Second

// quiet is how long a test watches a connection to show that nothing
// arrives. It is a negative check, never used to let something happen.
const quiet = 150 * time.Millisecond

// newServer starts a server that the test closes when it ends.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// testCtx returns a context that ends with the test or after wait.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// newClient returns an HTTP client with its own connection pool, closed when
// the test ends.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// get makes a GET request; the response body is closed when the test ends.
func get(t *testing.T, ctx context.Context, c *http.Client, url string, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wireMsg is a message object as a client decodes it.
type wireMsg struct {
	ID    *string         `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

func (m wireMsg) id() string {
	if m.ID == nil {
		return "<none>"
	}
	return *m.ID
}

func ids(msgs []wireMsg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.id()
	}
	return out
}

// decodeList decodes a JSON array of message objects.
func decodeList(t *testing.T, body []byte) []wireMsg {
	t.Helper()
	var msgs []wireMsg
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return msgs
}

// readBody reads a whole response body and checks its status.
func readBody(t *testing.T, resp *http.Response, status int) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d (body %q), want %d", resp.StatusCode, b, status)
	}
	return b
}

// pollResult is the outcome of a request made in the background.
type pollResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// goGet makes a GET in a goroutine owned by the test: the request is
// cancelled and the goroutine joined when the test ends.
func goGet(t *testing.T, c *http.Client, url string) <-chan pollResult {
	t.Helper()
	return goGetCtx(t, context.Background(), c, url)
}

// goGetCtx is goGet with a request context derived from parent.
func goGetCtx(t *testing.T, parent context.Context, c *http.Client, url string) <-chan pollResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(parent, wait)
	out := make(chan pollResult, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var r pollResult
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			r.status, r.header = resp.StatusCode, resp.Header
			r.body, r.err = io.ReadAll(resp.Body)
			resp.Body.Close()
		} else {
			r.err = err
		}
		out <- r
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// result waits for a background request's outcome.
func result(t *testing.T, ch <-chan pollResult) pollResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatal("no answer to the background request")
	}
	return pollResult{}
}

// sseClient reads an event stream in a goroutine owned by the test, block by
// block (the lines between blank lines).
type sseClient struct {
	resp   *http.Response
	blocks chan []string
	err    error // why reading stopped; set before blocks is closed
}

// openSSE opens /sse with the query and header given and starts reading it.
func openSSE(t *testing.T, s *Server, query string, hdr http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.SSEURL()+query, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := newClient(t).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open sse: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("open sse: status %d, content type %q", resp.StatusCode, ct)
	}
	c := &sseClient{resp: resp, blocks: make(chan []string, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.blocks)
		br := bufio.NewReader(resp.Body)
		var block []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				c.err = err
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line != "" {
				block = append(block, line)
				continue
			}
			if len(block) == 0 {
				continue
			}
			select {
			case c.blocks <- block:
			case <-ctx.Done():
				c.err = ctx.Err()
				return
			}
			block = nil
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return c
}

// block returns the next block, keep-alive comments included.
func (c *sseClient) block(t *testing.T) []string {
	t.Helper()
	select {
	case b, ok := <-c.blocks:
		if !ok {
			t.Fatalf("sse stream ended: %v", c.err)
		}
		return b
	case <-time.After(wait):
		t.Fatal("no sse block")
	}
	return nil
}

// event returns the next block that is not a keep-alive comment.
func (c *sseClient) event(t *testing.T) []string {
	t.Helper()
	for {
		if b := c.block(t); !(len(b) == 1 && b[0] == ": keep-alive") {
			return b
		}
	}
}

// silent checks that nothing arrives for quiet.
func (c *sseClient) silent(t *testing.T) {
	t.Helper()
	select {
	case b, ok := <-c.blocks:
		t.Fatalf("got %q (open %v), want silence", b, ok)
	case <-time.After(quiet):
	}
}

// end waits for the stream to end and returns why it ended.
func (c *sseClient) end(t *testing.T) error {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-c.blocks:
			if !ok {
				return c.err
			}
		case <-timeout:
			t.Fatal("sse stream did not end")
		}
	}
}

// dialWS opens a WebSocket to /ws with the query given.
func dialWS(t *testing.T, ctx context.Context, s *Server, query string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, s.WebSocketURL()+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// readFrame reads one text frame.
func readFrame(t *testing.T, ctx context.Context, c *websocket.Conn) []byte {
	t.Helper()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	return b
}

// frameMsgs decodes a frame holding one message object or an array of them.
func frameMsgs(t *testing.T, frame []byte) (msgs []wireMsg, isArray bool) {
	t.Helper()
	if len(frame) > 0 && frame[0] == '[' {
		return decodeList(t, frame), true
	}
	var m wireMsg
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatalf("decode frame %q: %v", frame, err)
	}
	return []wireMsg{m}, false
}

// streams returns the streams live on path.
func (s *Server) streamsOn(path string) []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stream
	for st := range s.streams {
		if st.path == path {
			out = append(out, st)
		}
	}
	return out
}
