package bench

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
	"github.com/coder/websocket"
	gosse "github.com/tmaxmax/go-sse"
)

// idleSubs is how many idle subscriptions the idle benchmark holds at once
// (fewer with -short).
func idleSubs() int {
	if testing.Short() {
		return 200
	}
	return 2000
}

// idleRow opens one idle connection or subscription to base and returns
// how to close it. It may start goroutines, which close must end.
type idleRow struct {
	name string
	open func(ctx context.Context, base string, hc *http.Client) (close func(), err error)
}

var idleRows = []idleRow{
	{"WebSocket/coder-Reader", func(ctx context.Context, base string, hc *http.Client) (func(), error) {
		c, _, err := websocket.Dial(ctx, wsURL(base)+"/ws?n=0", &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() { defer close(done); c.Reader(context.Background()) }()
		return func() { c.CloseNow(); <-done }, nil
	}},
	{"WebSocket/anysub", idleAnysub(func(base string) transport.Transport { return &transport.WebSocket{URL: base + "/ws?n=0"} })},
	{"SSE/go-sse", func(ctx context.Context, base string, hc *http.Client) (func(), error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse?n=0", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, err := range gosse.Read(resp.Body, nil) {
				if err != nil {
					return
				}
			}
		}()
		return func() { resp.Body.Close(); <-done }, nil
	}},
	{"SSE/anysub", idleAnysub(func(base string) transport.Transport { return &transport.SSE{URL: base + "/sse?n=0"} })},
	{"LongPoll/nethttp", func(ctx context.Context, base string, hc *http.Client) (func(), error) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			rawPollLoop(rctx, base+"/long?n=1&since=1", 1, func(string, []byte) bool { return true })
		}()
		return func() { cancel(); <-done }, nil
	}},
	{"LongPoll/anysub", idleAnysub(func(base string) transport.Transport { return &transport.LongPoll{URL: base + "/long?n=0"} })},
}

func idleAnysub(mk func(string) transport.Transport) func(context.Context, string, *http.Client) (func(), error) {
	return func(ctx context.Context, base string, hc *http.Client) (func(), error) {
		cfg := anysubConfig(mk(base))
		cfg.HTTPClient = hc
		sub, err := client.Subscribe(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return func() { sub.Close() }, nil
	}
}

// BenchmarkIdle holds idleSubs() idle connections of one row (against a
// server in another process) and reports the memory (heap in use plus
// goroutine stacks) and goroutines each costs, with default settings
// (anysub's heartbeat on).
func BenchmarkIdle(b *testing.B) {
	base := startChild(b)
	for _, row := range idleRows {
		b.Run(row.name, func(b *testing.B) {
			var mem, gs float64
			for range b.N {
				m, g := measureIdle(b, base, row)
				mem += m
				gs += g
			}
			b.ReportMetric(mem/float64(b.N), "B/sub")
			b.ReportMetric(gs/float64(b.N), "goroutines/sub")
		})
	}
	sioIdle(b)
}

func measureIdle(b *testing.B, base string, row idleRow) (bytesPer, goroutinesPer float64) {
	return measureIdleN(b, base, row, idleSubs())
}

// measureIdleN is measureIdle with n connections.
func measureIdleN(b *testing.B, base string, row idleRow, n int) (bytesPer, goroutinesPer float64) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m0, g0 := idleFootprint()
	closers := make([]func(), 0, n)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range n {
		c, err := row.open(ctx, base, hc)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, c)
	}
	settle()
	m1, g1 := idleFootprint()
	return float64(m1-m0) / float64(n), float64(g1-g0) / float64(n)
}

// settle waits (at most 10 s) until the goroutine count has stayed put for
// half a second: every connection is then open and idle. This measures; it
// synchronises nothing.
func settle() {
	last, still := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(10 * time.Second); still < 10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if g := runtime.NumGoroutine(); g == last {
			still++
		} else {
			last, still = g, 0
		}
	}
}

func idleFootprint() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}
