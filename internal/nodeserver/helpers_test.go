//go:build interop

package nodeserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/coder/websocket"
)

// testCtx bounds every wait of a test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start runs a node server for the test, its stderr in the test's output.
func start(t *testing.T, opts nodeserver.Options) *nodeserver.Server {
	t.Helper()
	if opts.Stderr == nil {
		opts.Stderr = t.Output()
	}
	srv, err := nodeserver.Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// publishN publishes n tick messages and returns their ids.
func publishN(t *testing.T, ctx context.Context, srv *nodeserver.Server, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := srv.Publish(ctx, "tick", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// plain is an HTTP client for the tests' own requests; it keeps no idle
// connections, so nothing outlives a test.
func plain(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// get fetches url and returns the response with its body read and closed.
func get(ctx context.Context, c *http.Client, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// wireMessage is a message as /poll and /long send it.
type wireMessage struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// pollAll returns the messages /poll answers after since.
func pollAll(t *testing.T, ctx context.Context, srv *nodeserver.Server, since string) []wireMessage {
	t.Helper()
	_, b, err := get(ctx, plain(0), srv.PollURL()+"?since="+since)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []wireMessage
	if err := json.Unmarshal(b, &msgs); err != nil {
		t.Fatalf("poll answer %q: %v", b, err)
	}
	return msgs
}

// rawConn opens a TCP connection, sends one GET for path and reads the
// response head. The body stays on the returned reader.
func rawConn(t *testing.T, ctx context.Context, srv *nodeserver.Server, path string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, srv.Addr()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

// wsDial opens a WebSocket to srv and reads (and drops) its frames in a
// goroutine, which also answers pings; closing the connection ends it. The
// returned channel is closed when that reader has returned.
func wsDial(t *testing.T, ctx context.Context, srv *nodeserver.Server) (*websocket.Conn, <-chan struct{}) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, srv.WebSocketURL(), &websocket.DialOptions{HTTPClient: plain(0)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-done })
	return c, done
}

// setDisabled makes srv answer path with status (0 serves again) through
// server.js's /admin/disable, a control beyond the Go API used here to hold
// a subscriber off while messages are published.
func setDisabled(t *testing.T, ctx context.Context, srv *nodeserver.Server, path string, status int) {
	t.Helper()
	body := fmt.Sprintf(`{"path":%q,"status":%d}`, path, status)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/admin/disable", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := plain(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable %s: %s", path, resp.Status)
	}
}

// waitRequests waits until srv has seen at least n requests on path.
func waitRequests(t *testing.T, ctx context.Context, srv *nodeserver.Server, path string, n int) {
	t.Helper()
	for {
		got, err := srv.Requests(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d requests on %s, want %d: %v", got, path, n, ctx.Err())
		case <-time.After(5 * time.Millisecond): // polling the condition, bounded by ctx
		}
	}
}

// rawLongPoll sends a GET /long that the server holds, and waits until the
// server has it.
func rawLongPoll(t *testing.T, ctx context.Context, srv *nodeserver.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	before, err := srv.Requests(ctx, nodeserver.PathLongPoll)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	last, err := srv.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s?since=%s HTTP/1.1\r\nHost: %s\r\n\r\n", nodeserver.PathLongPoll, last, srv.Addr())
	// node counts and parks a request in the same turn of its event loop, so
	// once the count shows, the request is held.
	waitRequests(t, ctx, srv, nodeserver.PathLongPoll, before+1)
	return conn, bufio.NewReader(conn)
}
