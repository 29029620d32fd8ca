package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/transport"
)

// latencyRate is the fixed, moderate publishing rate of the latency
// benchmarks, in messages per second.
const latencyRate = 2000

// latencyPollInterval is the pause between polls in the Poll latency rows,
// anysub's and the raw loop's alike; it dominates their latency.
const latencyPollInterval = 5 * time.Millisecond

// BenchmarkLatency publishes b.N messages at latencyRate and measures, for
// each, the time from publication to delivery by the client; it reports the
// 50th and 99th percentiles.
func BenchmarkLatency(b *testing.B) {
	for _, w := range wires {
		for _, r := range w.receivers {
			run := r.run
			if w.name == "Poll" {
				run = latencyPollReceiver(r.name)
			}
			b.Run(w.name+"/"+r.name, func(b *testing.B) {
				n := max(b.N, 200)
				f := newFeed(n)
				srv := newServer(b, f)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				lat := make([]time.Duration, 0, n)
				started := make(chan struct{})
				go func() { <-started; f.run(ctx, latencyRate) }()
				b.ResetTimer()
				close(started)
				err := run(ctx, fmt.Sprintf("%s%s?n=%d", srv.URL, w.path, n), n, func(string, []byte) bool {
					i := len(lat) + 1
					lat = append(lat, time.Duration(time.Now().UnixNano()-f.pub[i].Load()))
					return true
				})
				b.StopTimer()
				cancel()
				if err != nil || len(lat) != n {
					b.Fatalf("%d of %d messages, %v", len(lat), n, err)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// latencyPollReceiver is the Poll row with latencyPollInterval between
// requests, for anysub and for the raw loop.
func latencyPollReceiver(name string) func(context.Context, string, int, func(string, []byte) bool) error {
	if strings.HasPrefix(name, "anysub") {
		return anysubClient(func(u string) transport.Transport {
			return &transport.Poll{URL: u, Interval: latencyPollInterval}
		})
	}
	return func(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
		return rawPoll(ctx, url, n, latencyPollInterval, fn)
	}
}
