package bench

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/anysub/anysub/transport"
)

// BenchmarkCostSplit takes the WebSocket throughput row apart, to show
// where anysub's time per message goes beside coder/websocket's Reader. It
// is an analysis, not a comparison: run.sh leaves it out, and its figures
// are quoted in docs/BENCHMARKS.prose.md with the command that made them.
//
// Rows, each at GOMAXPROCS 1 and 2:
//   - coder-Reader: the raw baseline of BenchmarkThroughput.
//   - anysub-transport: transport.WebSocket's stream alone, envelopes decoded.
//   - anysub-transport-copy: the same with a Decoder that does not look
//     inside the frame: it copies it and numbers it from a counter (one
//     copy and one id string per message, as the envelope decoder makes),
//     so that the difference from anysub-transport is the envelope's
//     scanning and validation.
//   - anysub, anysub-copy: client.Subscribe + Next over those two.
//
// At GOMAXPROCS 1 the server, the reading goroutine and the caller of Next
// share one processor: no hand-off between them crosses a core or wakes a
// thread, and each row's time is the CPU it costs.
func BenchmarkCostSplit(b *testing.B) {
	var seq atomic.Int64
	copyFrame := func(frame []byte) ([]transport.Message, error) {
		return []transport.Message{{ID: strconv.FormatInt(seq.Add(1), 10), Data: append([]byte(nil), frame...)}}, nil
	}
	rows := []receiver{
		{"coder-Reader", rawCoderReader},
		{"anysub-transport", anysubStream(func(u string) transport.Transport { return &transport.WebSocket{URL: u} })},
		{"anysub-transport-copy", anysubStream(func(u string) transport.Transport { return &transport.WebSocket{URL: u, Decoder: copyFrame} })},
		{"anysub", anysubClient(func(u string) transport.Transport { return &transport.WebSocket{URL: u} })},
		{"anysub-copy", anysubClient(func(u string) transport.Transport { return &transport.WebSocket{URL: u, Decoder: copyFrame} })},
	}
	ws := wires[0]
	if ws.name != "WebSocket" {
		b.Fatalf("the first wire is %s, not WebSocket", ws.name)
	}
	for _, procs := range []int{1, 2} {
		for _, r := range rows {
			b.Run(fmt.Sprintf("procs=%d/%s", procs, r.name), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				throughput(b, ws, r, "", msgSize)
			})
		}
	}
}
