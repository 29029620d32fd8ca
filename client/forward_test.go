package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/transport"
)

// Config.Header and the headers of Credentials reach a host the server
// redirects to only with ForwardHeadersCrossHost.
func TestConfig_forwardHeadersCrossHost(t *testing.T) {
	var (
		mu  sync.Mutex
		got []http.Header
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		http.NotFound(w, r) // unsupported: the subscription ends
	}))
	t.Cleanup(other.Close)
	first := httptest.NewServer(http.RedirectHandler(other.URL+"/sse", http.StatusFound))
	t.Cleanup(first.Close)

	for _, forward := range []bool{false, true} {
		mu.Lock()
		got = nil
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sub, err := Subscribe(ctx, Config{
			Transports: []transport.Transport{&transport.SSE{URL: first.URL + "/sse"}},
			Header:     http.Header{"X-Api-Key": {"key-secret"}},
			Credentials: func(context.Context, error) (Credentials, error) {
				return Credentials{Header: http.Header{"X-Token": {"token-secret"}}}, nil
			},
			ForwardHeadersCrossHost: forward,
		})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		_, err = sub.Next(ctx)
		sub.Close()
		cancel()
		if err == nil {
			t.Fatal("Next delivered a message")
		}
		mu.Lock()
		if len(got) == 0 {
			t.Fatalf("forward %v: nothing reached the other host (%v)", forward, err)
		}
		for _, h := range got {
			for _, f := range []string{"X-Api-Key", "X-Token"} {
				if has := h.Get(f) != ""; has != forward {
					t.Errorf("forward %v: %s arrived %v", forward, f, has)
				}
			}
		}
		mu.Unlock()
	}
}
