package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// redirectKinds make one request of each kind through a redirect: open
// asks u (a WebSocket handshake, an SSE, long-poll or poll GET), or opens a
// stream on a healthy server and sends to u (Send's POST). The outcome does
// not matter, only what reaches the end of the redirect.
var redirectKinds = []struct {
	name string
	do   func(t *testing.T, u string, req Request)
}{
	{"websocket", func(t *testing.T, u string, req Request) { redirectOpen(t, &WebSocket{URL: wsTarget(u)}, req) }},
	{"sse", func(t *testing.T, u string, req Request) { redirectOpen(t, &SSE{URL: u}, req) }},
	{"longpoll", func(t *testing.T, u string, req Request) { redirectOpen(t, &LongPoll{URL: u}, req) }},
	{"poll", func(t *testing.T, u string, req Request) { redirectOpen(t, &Poll{URL: u}, req) }},
	{"sse send", func(t *testing.T, u string, req Request) {
		redirectSend(t, func(s string) Transport { return &SSE{URL: s, SendURL: u} }, req)
	}},
	{"longpoll send", func(t *testing.T, u string, req Request) {
		redirectSend(t, func(s string) Transport { return &LongPoll{URL: s, SendURL: u, Hold: 50 * time.Millisecond} }, req)
	}},
	{"poll send", func(t *testing.T, u string, req Request) {
		redirectSend(t, func(s string) Transport { return &Poll{URL: s, SendURL: u, Interval: time.Millisecond} }, req)
	}},
}

func redirectOpen(t *testing.T, tr Transport, req Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if st, err := tr.Open(ctx, req); err == nil {
		st.Close()
	}
}

func redirectSend(t *testing.T, mk func(streamURL string) Transport, req Request) {
	t.Helper()
	ss := newSendServer(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := mk(ss.URL).Open(ctx, req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if err := st.(Sender).Send(ctx, []byte("x"), "k"); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// headerHosts are two servers on different ports, each of which redirects
// any request for /start to the /end of the server named by the test, and
// records the headers of every request for /end.
type headerHosts struct {
	a, b *httptest.Server
	to   *httptest.Server // where /start redirects

	mu  sync.Mutex
	end []http.Header
}

func newHeaderHosts(t *testing.T) *headerHosts {
	h := &headerHosts{}
	handle := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			code := http.StatusFound
			if r.Method == http.MethodPost {
				code = http.StatusTemporaryRedirect // keeps the POST
			}
			http.Redirect(w, r, h.to.URL+"/end", code)
			return
		}
		h.mu.Lock()
		h.end = append(h.end, r.Header.Clone())
		h.mu.Unlock()
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.NotFound(w, r)
	}
	h.a = httptest.NewServer(http.HandlerFunc(handle))
	h.b = httptest.NewServer(http.HandlerFunc(handle))
	t.Cleanup(h.a.Close)
	t.Cleanup(h.b.Close)
	return h
}

// reached returns the headers of the one request that reached /end.
func (h *headerHosts) reached(t *testing.T) http.Header {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.end) != 1 {
		t.Fatalf("%d requests reached the end of the redirect, want 1", len(h.end))
	}
	got := h.end[0]
	h.end = nil
	return got
}

// The fields of Request.Header (an API key in a header of its own,
// Authorization, a key not in canonical form) reach the host of the first
// request only, unless ForwardHeadersCrossHost: a redirect to another port
// or host gets none of them, on every kind of request.
func TestRedirect_configuredHeadersStayOnHost(t *testing.T) {
	configured := []string{"X-Api-Key", "Authorization", "X-Lower"}
	header := func() http.Header {
		return http.Header{
			"X-Api-Key":     {"key-secret"},
			"Authorization": {"Bearer token-secret"},
			"x-lower":       {"lower-secret"}, // as a map literal may spell it
		}
	}
	for _, k := range redirectKinds {
		t.Run(k.name, func(t *testing.T) {
			h := newHeaderHosts(t)
			for _, tc := range []struct {
				name    string
				to      *httptest.Server
				forward bool
				want    bool // the configured fields arrive
			}{
				{"other host", h.b, false, false},
				{"other host, forwarding allowed", h.b, true, true},
				{"same host", h.a, false, true},
			} {
				h.to = tc.to
				k.do(t, h.a.URL+"/start", Request{Header: header(), ForwardHeadersCrossHost: tc.forward})
				got := h.reached(t)
				for _, f := range configured {
					if has := got.Get(f) != ""; has != tc.want {
						t.Errorf("%s: %s arrived %v, want %v (headers %v)", tc.name, f, has, tc.want, got)
					}
				}
			}

			// The caller's own CheckRedirect still runs, after the fields
			// are gone.
			var seen []string
			client := &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
				seen = append(seen, r.Header.Get("X-Api-Key"))
				return nil
			}}
			h.to = h.b
			k.do(t, h.a.URL+"/start", Request{Header: header(), HTTPClient: client})
			if got := h.reached(t); got.Get("X-Api-Key") != "" {
				t.Errorf("with a CheckRedirect of the caller's: X-Api-Key arrived")
			}
			if len(seen) != 1 || seen[0] != "" {
				t.Errorf("the caller's CheckRedirect saw X-Api-Key values %q, want one empty", seen)
			}
		})
	}
}
