//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// startNode runs a node server for t with the harness's keep-alive and hold
// settings (opts may override them) and closes it at cleanup.
func startNode(t *testing.T, opts nodeserver.Options) *nodeserver.Server {
	t.Helper()
	if opts.KeepAlive == 0 {
		opts.KeepAlive = sseKeepAlive
	}
	if opts.LongPollHold == 0 {
		opts.LongPollHold = lpHold
	}
	if opts.Stderr == nil {
		w := &tailWriter{}
		opts.Stderr = w
		t.Cleanup(func() {
			if t.Failed() && w.String() != "" {
				t.Logf("node stderr (tail):\n%s", w)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := nodeserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start node server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// startNodeWithLog is startNode with the log persisted in t's temp dir.
func startNodeWithLog(t *testing.T, opts nodeserver.Options) *nodeserver.Server {
	t.Helper()
	opts.LogFile = filepath.Join(t.TempDir(), "log.jsonl")
	return startNode(t, opts)
}

// startToxiproxy runs toxiproxy-server for t; a missing binary fails the
// test with the command that builds it.
func startToxiproxy(t *testing.T) *Toxiproxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tp, err := StartToxiproxy(ctx, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	return tp
}

// proxyTo makes a Toxiproxy proxy in front of srv.
func proxyTo(t *testing.T, tp *Toxiproxy, name string, srv *nodeserver.Server) *Proxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := tp.CreateProxy(ctx, name, srv.Addr())
	if err != nil {
		t.Fatalf("create proxy: %v", err)
	}
	return p
}

// httpClient is a client of its own for t, so its idle connections can be
// closed at cleanup.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 0, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// ladderOf builds transports named by names (websocket, sse, stream,
// longpoll, poll) for the server at host ("127.0.0.1:PORT").
func ladderOf(host string, names ...string) []transport.Transport {
	var out []transport.Transport
	for _, n := range names {
		switch n {
		case transport.NameWebSocket:
			out = append(out, &transport.WebSocket{URL: "ws://" + host + nodeserver.PathWebSocket, HandshakeTimeout: time.Second})
		case transport.NameSSE:
			out = append(out, &transport.SSE{URL: "http://" + host + nodeserver.PathSSE, HandshakeTimeout: time.Second})
		case transport.NameLongPoll:
			out = append(out, &transport.LongPoll{URL: "http://" + host + nodeserver.PathLongPoll, Hold: lpHold})
		case transport.NameStream:
			out = append(out, &transport.HTTPStream{URL: "http://" + host + nodeserver.PathStream, Format: transport.FormatNDJSON})
		case transport.NamePoll:
			out = append(out, &transport.Poll{URL: "http://" + host + nodeserver.PathPoll, Interval: pollEvery})
		default:
			panic("chaos: unknown transport " + n)
		}
	}
	return out
}

// allTransports is the full ladder, best first.
var allTransports = []string{transport.NameWebSocket, transport.NameSSE, transport.NameLongPoll, transport.NamePoll}

// subRand is a seeded source for one subscription's jitter. It is called
// only from that subscription's supervisor, so it needs no lock.
func subRand(seed int64, name string) func() float64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64())).Float64
}

// soakConfig is the subscription config of the soak scenarios: short
// heartbeats, quick seeded backoff, events never dropped.
func soakConfig(t *testing.T, seed int64, name string, tr []transport.Transport) client.Config {
	return client.Config{
		Transports:        tr,
		HTTPClient:        httpClient(t),
		HeartbeatInterval: hbInterval,
		HeartbeatTimeout:  hbTimeout,
		Backoff:           backoff.Exponential{Initial: 100 * time.Millisecond, Max: time.Second, Rand: subRand(seed, name)},
		UpgradeInterval:   300 * time.Millisecond,
		EventBuffer:       1 << 14,
		Buffer:            256,
	}
}

// record starts a Recorder for t and closes it at cleanup.
func record(t *testing.T, cfg client.Config) *Recorder {
	t.Helper()
	r, err := Record(context.Background(), cfg)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// publish starts a publisher for t and stops it at cleanup.
func publish(t *testing.T, target Target, rate int) *Publisher {
	t.Helper()
	p := StartPublisher(target, rate)
	t.Cleanup(p.Stop)
	return p
}

// pause waits d as part of a fault schedule (the workload of a soak, not a
// synchronisation), or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gap draws the next pause of a fault schedule, uniform in [lo, hi).
func gap(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// rngFor is the seeded random source of one scenario.
func rngFor(seed int64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()^0x9e3779b97f4a7c15))
}

// finish stops pub, waits (bounded) until rec has everything the server
// logged, closes rec and returns the checker's verdict.
func finish(t *testing.T, srv Target, pub *Publisher, rec *Recorder, start time.Time) (Verdict, Activity) {
	t.Helper()
	pub.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	last, err := lastID(ctx, srv)
	if err != nil {
		t.Fatalf("last id: %v", err)
	}
	if err := rec.WaitDelivered(ctx, last); err != nil {
		t.Errorf("waiting for id %d (have %d): %v\nevents:\n%s", last, rec.LastID(), err, EventLog(tail(rec.Events(), 40), start, 40))
	}
	st := rec.Stats()
	rec.Close()
	v := Check(rec.Deliveries(), 1, last, pub.Acked())
	a := Summarise(rec.Deliveries(), rec.Events(), st)
	if !v.OK() {
		t.Errorf("delivery check failed: %s\nevents (last 40):\n%s", v, EventLog(tail(rec.Events(), 40), start, 40))
	}
	if a.EventsDropped != 0 {
		t.Errorf("%d events dropped: the event figures are incomplete", a.EventsDropped)
	}
	return v, a
}

// tail returns the last n events.
func tail(evs []client.Event, n int) []client.Event {
	if len(evs) > n {
		return evs[len(evs)-n:]
	}
	return evs
}

// tailWriter keeps the last 8 KiB written to it, for a failure message.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if over := len(w.buf) - 8<<10; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(b), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}

func itoa[T ~int | ~int64 | ~uint64](n T) string { return fmt.Sprint(n) }
