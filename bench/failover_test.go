package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
	"github.com/coder/websocket"
	gosse "github.com/tmaxmax/go-sse"
)

// BenchmarkFailover measures, per op, one fresh client (fresh connections)
// from start to its first message:
//
//	Refused/sse-connect      raw baseline: GET the event stream, read the first event (go-sse)
//	Refused/anysub-sse       anysub with SSE alone
//	Refused/raw-ws-to-sse    the same fallback written by hand: coder/websocket Dial (refused),
//	                         then a GET with the same http.Client, read with go-sse
//	Refused/anysub-ws-to-sse anysub with WebSocket (refused with 404) then SSE
//
// and, for Stalled/*, the time from the last message before the server goes
// silent (no frames, no pongs, no bytes) to the first one over the next
// connection, with a 50 ms + 50 ms heartbeat and a 10 ms backoff.
//
// Every Refused row closes what it opened inside the timed op (the raw row
// its response and idle connections, the anysub rows their subscription), so
// that all three do the same work around the first message. None stops the
// timer: b.StopTimer and b.StartTimer each run runtime.ReadMemStats, which
// stops the world and flushes every P's allocation cache, and the op that
// follows runs some 70-90 µs slower on a 2-core machine (a cold start of
// threads and caches), which only the rows that stop the timer would pay.
// (Stalled/* stop the timer around their set-up: there the cost is lost in
// the 100 ms being measured.)
func BenchmarkFailover(b *testing.B) {
	srv := newServer(b, nil)
	first := func(b *testing.B, trs ...transport.Transport) {
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			hc := newHTTPClient()
			cfg := anysubConfig(trs...)
			cfg.HTTPClient = hc
			sub, err := client.Subscribe(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sub.Next(ctx); err != nil {
				b.Fatal(err)
			}
			sub.Close()
			hc.CloseIdleConnections()
			cancel()
		}
	}
	b.Run("Refused/sse-connect", func(b *testing.B) {
		for range b.N {
			err := rawGoSSE(context.Background(), srv.URL+"/sse?n=1", 1, func(string, []byte) bool { return false })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refused/raw-ws-to-sse", func(b *testing.B) {
		for range b.N {
			if err := rawWSThenSSE(srv.URL); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refused/anysub-sse", func(b *testing.B) {
		first(b, &transport.SSE{URL: srv.URL + "/sse?n=1"})
	})
	b.Run("Refused/anysub-ws-to-sse", func(b *testing.B) {
		first(b, &transport.WebSocket{URL: srv.URL + "/ws?refuse=1"}, &transport.SSE{URL: srv.URL + "/sse?n=1"})
	})
	for _, c := range []struct {
		name string
		tr   transport.Transport
	}{
		{"Stalled/websocket", &transport.WebSocket{URL: srv.URL + "/ws?n=2&stall=1"}},
		{"Stalled/sse", &transport.SSE{URL: srv.URL + "/sse?n=2&stall=1"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				cfg := anysubConfig(c.tr)
				cfg.HTTPClient = newHTTPClient()
				cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 50*time.Millisecond, 50*time.Millisecond
				sub, err := client.Subscribe(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sub.Next(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				m, err := sub.Next(ctx)
				b.StopTimer()
				if err != nil || m.ID != "2" {
					b.Fatalf("after the stall: %v, %v", m, err)
				}
				sub.Close()
				cancel()
				b.StartTimer()
			}
		})
	}
}

// rawWSThenSSE is a hand-written fallback: a coder/websocket handshake that
// the server refuses, then the event stream over the same http.Client (which
// dials again: net/http pools the handshake's connection under an
// upgrade-only key), to the first event.
func rawWSThenSSE(base string) error {
	ctx := context.Background()
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c, _, err := websocket.Dial(ctx, wsURL(base)+"/ws?refuse=1", &websocket.DialOptions{HTTPClient: hc})
	if err == nil {
		c.CloseNow()
		return errors.New("the handshake was not refused")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse?n=1", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, err := range gosse.Read(resp.Body, nil) {
		return err
	}
	return errors.New("no event")
}
