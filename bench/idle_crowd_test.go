package bench

import (
	"testing"
)

// crowdSubs is how many idle WebSocket subscriptions BenchmarkIdleCrowd
// holds in one process (300 with -short, which only checks that it runs).
func crowdSubs() int {
	if testing.Short() {
		return 300
	}
	return 10000
}

// BenchmarkIdleCrowd holds crowdSubs() idle WebSocket connections of one
// row at once, against a server in another process, and reports the
// process's heap in use plus goroutine stacks for all of them (MiB-total)
// and per connection. The open-files limit must allow them (bench/run.sh
// raises it).
func BenchmarkIdleCrowd(b *testing.B) {
	base := startChild(b)
	for _, row := range idleRows {
		switch row.name {
		case "WebSocket/coder-Reader", "WebSocket/anysub":
		default:
			continue
		}
		b.Run(row.name, func(b *testing.B) {
			n := crowdSubs()
			var mem float64
			for range b.N {
				per, _ := measureIdleN(b, base, row, n)
				mem += per
			}
			per := mem / float64(b.N)
			b.ReportMetric(per, "B/sub")
			b.ReportMetric(per*float64(n)/(1<<20), "MiB-total")
			b.ReportMetric(float64(n), "subs")
		})
	}
}
