package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Every -json line is valid UTF-8 JSON, whatever bytes the server sends:
// here raw 0xFF bytes inside JSON strings (long poll and WebSocket), in a
// frame that is not JSON, and in an id.
func TestBinary_jsonOutputIsValidUTF8(t *testing.T) {
	long := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("since") != "" {
			<-r.Context().Done() // nothing more
			return
		}
		w.Write([]byte("[{\"id\":\"1\",\"data\":\"a\xffb\"},{\"id\":\"2\xfe\",\"data\":{\"k\":\"\xc3\"}}]"))
	}))
	t.Cleanup(long.Close)
	ws := newWSServer(t, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		for _, f := range []string{"{\"id\":\"1\",\"data\":\"x\xffy\"}", "raw \xff frame"} {
			if writeText(ctx, c, f) != nil {
				return
			}
		}
		drain(ctx, c)
	})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"longpoll", []string{"-longpoll", long.URL}},
		{"websocket", []string{"-ws", wsURL(ws.URL)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, append([]string{"-json", "-n", "2"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 lines, got:\n%s", stdout)
			}
			for _, l := range lines {
				if !utf8.ValidString(l) || !json.Valid([]byte(l)) {
					t.Fatalf("line is not valid UTF-8 JSON: %q", l)
				}
				var m struct{ Data json.RawMessage }
				if err := json.Unmarshal([]byte(l), &m); err != nil || !strings.Contains(l, `\ufffd`) && !strings.Contains(l, "\ufffd") {
					t.Fatalf("line %q: bad bytes not replaced (%v)", l, err)
				}
			}
		})
	}
}
