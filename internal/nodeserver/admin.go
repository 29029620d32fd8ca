package nodeserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Publish appends one message to the log and returns its id: "1", "2", ...
// increasing, and continuing after Restart when Options.LogFile is set. Nil
// data publishes JSON null; data must otherwise be valid JSON. With a LogFile
// the message is on disk before Publish returns.
func (s *Server) Publish(ctx context.Context, event string, data json.RawMessage) (string, error) {
	if data == nil {
		data = json.RawMessage("null")
	}
	var out struct{ ID string }
	err := s.call(ctx, http.MethodPost, "/publish", struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}{event, data}, &out)
	return out.ID, err
}

// LastID returns the id of the newest message, or "" when the log is empty.
func (s *Server) LastID(ctx context.Context) (string, error) {
	var out struct{ ID string }
	err := s.call(ctx, http.MethodGet, "/admin/last-id", nil, &out)
	return out.ID, err
}

// DropAll destroys every open connection to the server: WebSockets, SSE
// streams, held long polls and idle keep-alive connections alike. Clients
// see their connection cut without a close handshake.
func (s *Server) DropAll(ctx context.Context) error {
	return s.call(ctx, http.MethodPost, "/admin/drop-all", nil, nil)
}

// RefuseWebSocket makes the server answer WebSocket upgrades with status
// instead of 101; 0 accepts them again. Connections already open stay open.
func (s *Server) RefuseWebSocket(ctx context.Context, status int) error {
	return s.call(ctx, http.MethodPost, "/admin/refuse-websocket", map[string]int{"status": status}, nil)
}

// SetSSEContentType makes PathSSE answer 200 with content type ct and an
// HTML body instead of an event stream; "" restores text/event-stream.
func (s *Server) SetSSEContentType(ctx context.Context, ct string) error {
	return s.call(ctx, http.MethodPost, "/admin/sse-content-type", map[string]string{"contentType": ct}, nil)
}

// Stall makes connections opened on path from now on be accepted and then
// starved: a WebSocket completes its upgrade and is never read or written
// (pings go unanswered), an SSE stream gets its headers and nothing more (no
// keep-alive comments), a long poll or poll is never answered. Connections
// already open are not affected; DropAll moves their clients onto new ones.
func (s *Server) Stall(ctx context.Context, path string, on bool) error {
	return s.call(ctx, http.MethodPost, "/admin/stall", struct {
		Path string `json:"path"`
		On   bool   `json:"on"`
	}{path, on}, nil)
}

// Requests returns how many requests and WebSocket upgrades the current
// process has seen on path (a restart starts counting again).
func (s *Server) Requests(ctx context.Context, path string) (int, error) {
	var out struct{ Count int }
	err := s.call(ctx, http.MethodGet, "/admin/requests?path="+url.QueryEscape(path), nil, &out)
	return out.Count, err
}

// call makes one admin request, sending in as JSON when it is not nil and
// decoding a 2xx answer into out when out is not nil.
func (s *Server) call(ctx context.Context, method, path string, in, out any) error {
	return callJSON(ctx, s.admin, s.URL(), method, path, in, out)
}

// callJSON is call for any server: c makes the request to base+path.
func callJSON(ctx context.Context, c *http.Client, base, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("nodeserver: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return fmt.Errorf("nodeserver: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("nodeserver: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("nodeserver: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("nodeserver: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("nodeserver: %s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}
