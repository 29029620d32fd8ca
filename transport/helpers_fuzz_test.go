package transport

import (
	"bytes"
	"flag"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Helpers shared by the fuzz targets of this package (FuzzSSEStream,
// FuzzPollBody, FuzzWSFrames). Each target checks, beside its own
// reference, the same handful of properties:
//
//   - the Data of all the messages an input yields add up to no more than
//     the input (every transport copies Data out of what it read, and a
//     decoder only ever selects parts of it);
//   - no message shares memory with the input or with a buffer the
//     transport reuses: scribbling over them after decoding changes no
//     message;
//   - no message is over the request's MaxMessageSize;
//   - the heap allocated while handling one input is bounded by a constant
//     plus a multiple of the input's length (fuzzAllocBudget).

// fuzzAllocSlack and fuzzAllocPerByte make the allocation budget of one
// input. The slack covers fixed costs (the SSE parser's first 4 KiB
// buffer, an iter.Pull coroutine, an http.Response and its headers) and
// what the fuzzing worker's own goroutines allocate meanwhile; the per-byte factor covers the copies a transport makes
// (body, event data, decoded data, ids) with their amortised growth.
const (
	fuzzAllocSlack   = 512 << 10
	fuzzAllocPerByte = 64
)

// fuzzWorker reports whether this process is one that go test started to
// run fuzz inputs. It reads a flag, so it is asked only once tests run.
var fuzzWorker = sync.OnceValue(func() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
})

// fuzzHeapAllocs returns the bytes allocated on the heap so far by the
// whole process, or 0 outside a fuzzing worker (where fuzzCheckAllocs
// checks nothing). It reads runtime.MemStats, which flushes every P's
// allocation cache first, and not the /gc/heap/allocs:bytes metric: that
// counter charges a whole span to a P when its cache takes one and gives
// back the unused part only when the cache is flushed, so two readings of
// it can differ by up to a span per size class per P more than what was
// allocated in between (553 KiB for a 16-byte input once, in a CI run). The price is a stop-the-world per
// reading, in fuzzing workers only.
func fuzzHeapAllocs() uint64 {
	if !fuzzWorker() {
		return 0
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// fuzzCheckAllocs fails when more than the budget for an input of n bytes
// was allocated since start (a fuzzHeapAllocs reading). The counter is the
// whole process's, so the check is made only in a fuzzing worker, which
// runs nothing but the target; in a plain go test run, the goroutines other
// tests left winding down could be counted too.
func fuzzCheckAllocs(t *testing.T, start uint64, n int) {
	t.Helper()
	if !fuzzWorker() {
		return
	}
	got := fuzzHeapAllocs() - start
	if budget := uint64(fuzzAllocSlack + fuzzAllocPerByte*n); got > budget {
		t.Fatalf("handling %d bytes of input allocated %d bytes, budget %d", n, got, budget)
	}
}

// fuzzWatchdog crashes the process, with every goroutine's stack, when one
// input takes longer than d: a hang would otherwise stall a fuzz worker
// silently until the test binary's timeout, with no input to replay. The
// fuzzer records the input of a crashed worker like any other failure. The
// returned function disarms it.
func fuzzWatchdog(d time.Duration) (stop func()) {
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		os.Stderr.Write(buf)
		panic("fuzz input took longer than " + d.String())
	})
	return func() { timer.Stop() }
}

// fuzzDataTotal is the sum of the lengths of the messages' Data.
func fuzzDataTotal(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Data)
	}
	return n
}

// fuzzCloneMessages returns a deep copy of msgs, to compare with after the
// input has been scribbled over.
func fuzzCloneMessages(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{ID: m.ID, Event: m.Event, Data: bytes.Clone(m.Data)}
	}
	return out
}

// fuzzScribble overwrites b with bytes that no decoder would have produced
// from it, so that a message still aliasing b shows.
func fuzzScribble(b []byte) {
	for i := range b {
		b[i] = ^b[i]
	}
}

// fuzzSameMessages fails unless got and want hold the same ids, events and
// data, in order (a nil and an empty Data are the same).
func fuzzSameMessages(t *testing.T, what string, got, want []Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages %s, want %d %s", what, len(got), fuzzRender(got), len(want), fuzzRender(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Event != w.Event || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: message %d is {%q %q %q}, want {%q %q %q}", what, i, g.ID, g.Event, g.Data, w.ID, w.Event, w.Data)
		}
	}
}

func fuzzRender(msgs []Message) string {
	var b bytes.Buffer
	for _, m := range msgs {
		b.WriteString("{" + m.ID + "|" + m.Event + "|" + string(m.Data) + "}")
	}
	return b.String()
}

// fuzzDecoders are the decoders a fuzz target picks from with one byte:
// none (the transport's default), DecodeJSON, Fields with its default
// paths, and Fields taking each whole value as data with no item lists.
var fuzzDecoders = []Decoder{
	nil,
	DecodeJSON,
	Fields{}.Decoder(),
	Fields{Data: ".", Items: "-"}.Decoder(),
}

// fuzzChunkReader hands out its input in reads whose sizes cycle through
// sizes (each 1 to 64 bytes; the whole rest at once when sizes is empty),
// as a network would split a body.
type fuzzChunkReader struct {
	in     []byte
	sizes  []byte
	i      int
	closed bool
}

func (r *fuzzChunkReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	n := len(r.in)
	if len(r.sizes) > 0 {
		n = min(n, int(r.sizes[r.i%len(r.sizes)])%64+1)
		r.i++
	}
	n = copy(p, r.in[:n])
	r.in = r.in[n:]
	return n, nil
}

func (r *fuzzChunkReader) Close() error {
	r.closed = true
	return nil
}

// fuzzSeedBodies are inputs from the tables of the decoder tests, for the
// targets that take a body or a frame.
func fuzzSeedBodies() [][]byte {
	var out [][]byte
	for _, tt := range decodeCases {
		out = append(out, []byte(tt.body))
	}
	for _, c := range differentialCases {
		if len(c) <= 1024 {
			out = append(out, []byte(c))
		}
	}
	for _, g := range fieldsCaseGroups {
		for _, tt := range g.cases {
			if len(tt.body) <= 1024 {
				out = append(out, []byte(tt.body))
			}
		}
	}
	return slices.CompactFunc(out, bytes.Equal)
}
