package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		serveChild()
		return
	}
	mainLeakChecked(m)
}

// BenchmarkThroughput reads b.N messages as fast as the server writes them.
// One op is one message; rows are Wire/client.
func BenchmarkThroughput(b *testing.B) {
	for _, w := range wires {
		for _, r := range w.receivers {
			b.Run(w.name+"/"+r.name, func(b *testing.B) {
				srv := newServer(b, nil)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				b.SetBytes(int64(msgSize))
				b.ReportAllocs()
				got := 0
				b.ResetTimer()
				err := r.run(ctx, fmt.Sprintf("%s%s?n=%d", srv.URL, w.path, b.N), b.N, func(string, []byte) bool {
					got++
					return true
				})
				b.StopTimer()
				if err != nil || got != b.N {
					b.Fatalf("%d of %d messages, %v", got, b.N, err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
	sioThroughput(b)
}
