package bench

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		serveChild()
		return
	}
	mainLeakChecked(m)
}

// BenchmarkThroughput reads b.N messages as fast as the server writes them.
// One op is one message; rows are Wire/client. cpu-ns/msg is the CPU time
// of the whole process (user and system, the in-process server included)
// per message: the server's share is the same for every row of a wire, so
// the differences between rows are the clients'.
func BenchmarkThroughput(b *testing.B) {
	for _, w := range wires {
		for _, r := range w.receivers {
			b.Run(w.name+"/"+r.name, func(b *testing.B) { throughput(b, w, r, "", msgSize) })
		}
	}
	sioThroughput(b)
}

// BenchmarkThroughput4KiB is BenchmarkThroughput with envelopes of about
// 4 KiB, so that the cost of copying data shows. A row whose data is not
// about that long fails.
func BenchmarkThroughput4KiB(b *testing.B) {
	for _, w := range wires {
		for _, r := range w.receivers {
			switch r.name {
			case "coder-Read", "r3labs", "lineparser", "linescanner":
				continue // the 200-byte table has them; nothing new here
			}
			b.Run(w.name+"/"+r.name, func(b *testing.B) { throughput(b, w, r, "&size=4k", msgSize4K) })
		}
	}
}

func throughput(b *testing.B, w wire, r receiver, query string, size int) {
	srv := newServer(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	got, short := 0, 0
	cpu0 := processCPU()
	b.ResetTimer()
	err := r.run(ctx, fmt.Sprintf("%s%s?n=%d%s", srv.URL, w.path, b.N, query), b.N, func(_ string, data []byte) bool {
		got++
		if len(data) < size-100 { // the data alone, or the whole envelope
			short++
		}
		return true
	})
	b.StopTimer()
	cpu := processCPU() - cpu0
	if err != nil || got != b.N || short > 0 {
		b.Fatalf("%d of %d messages (%d too short), %v", got, b.N, short, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
