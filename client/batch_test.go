package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// TestBatching_noMessageHeldBack: every transport that lets the client
// queue messages without waking Next (transport.ReadNotifier) hands over
// what it has before it waits for the network. A server sends a few
// messages and then nothing at all (no keep-alive, no heartbeat, a long
// poll held for longer than the test), so nothing but that hand-over can
// deliver the last of them: Next gets every one, or the test times out.
func TestBatching_noMessageHeldBack(t *testing.T) {
	srv := testserver.New(testserver.Options{LongPollHold: time.Minute, KeepAlive: -1})
	t.Cleanup(srv.Close)
	for i := range 3 {
		srv.Publish("tick", []byte{'1' + byte(i)})
	}
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = w.Write([]byte(`{"id":"1","data":1}` + "\n" + `{"id":"2","data":2}` + "\n" + `{"id":"3","data":3}` + "\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(stream.Close)

	trs := []transport.Transport{
		&transport.WebSocket{URL: srv.WebSocketURL()},
		&transport.SSE{URL: srv.SSEURL()},
		&transport.HTTPStream{URL: stream.URL},
		&transport.LongPoll{URL: srv.LongPollURL(), Hold: time.Minute},
		&transport.Poll{URL: srv.PollURL(), Interval: time.Minute},
	}
	for _, tr := range trs {
		t.Run(tr.Name(), func(t *testing.T) {
			cfg := testConfig(tr)
			cfg.HeartbeatInterval = -1
			sub := subscribe(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for want := 1; want <= 3; want++ {
				m, err := sub.Next(ctx)
				if err != nil {
					t.Fatalf("message %d of 3 held back: %v (stats %+v)", want, err, sub.Stats())
				}
				if m.ID != string(rune('0'+want)) {
					t.Fatalf("got id %q, want %d", m.ID, want)
				}
			}
		})
	}
}
