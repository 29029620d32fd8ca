package bench

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The message source: message i (from 1) has id i, event "tick" and a data
// object carrying i and a fixed text, about 200 bytes as a JSON envelope.
const msgText = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs; sphinx of black quartz, judge my vow; how vexingly quick daft zebras"

// msgText4K is the text of the 4 KiB rows (size=4k on a server URL): the
// same sentences repeated, cut so that an envelope is about 4,096 bytes.
var msgText4K = strings.Repeat(msgText+" ", 30)[:4020]

// appendData appends the data of message i.
func appendData(b []byte, i int) []byte { return appendDataText(b, i, msgText) }

// appendDataText appends the data of message i with text as its text.
func appendDataText(b []byte, i int, text string) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"text":"`...)
	b = append(b, text...)
	return append(b, `"}`...)
}

// appendEnvelope appends message i as a JSON envelope.
func appendEnvelope(b []byte, i int) []byte { return appendEnvelopeText(b, i, msgText) }

// appendEnvelopeText appends message i as a JSON envelope with text.
func appendEnvelopeText(b []byte, i int, text string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"event":"tick","data":`...)
	b = appendDataText(b, i, text)
	return append(b, '}')
}

// appendSSE appends message i as an event-stream event with text.
func appendSSE(b []byte, i int, text string) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\nevent: tick\ndata: "...)
	b = appendDataText(b, i, text)
	return append(b, "\n\n"...)
}

// msgSize is the size of an envelope (for MB/s), taken at a 6-digit id.
var msgSize = len(appendEnvelope(nil, 100000))

// msgSize4K is the size of an envelope of the 4 KiB rows.
var msgSize4K = len(appendEnvelopeText(nil, 100000, msgText4K))

// feed publishes messages at a fixed rate and records when each was
// published, for the latency benchmarks. Servers in feed mode wait on it.
type feed struct {
	mu   sync.Mutex
	n    int
	wake chan struct{}
	pub  []atomic.Int64 // publish time in UnixNano of message i at [i]
}

func newFeed(count int) *feed {
	return &feed{wake: make(chan struct{}), pub: make([]atomic.Int64, count+1)}
}

// run publishes every message at rate per second, then returns.
func (f *feed) run(ctx context.Context, rate int) {
	every := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 1; i < len(f.pub); i++ {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		f.pub[i].Store(time.Now().UnixNano())
		f.mu.Lock()
		f.n = i
		close(f.wake)
		f.wake = make(chan struct{})
		f.mu.Unlock()
	}
}

// wait blocks until more than after messages are published and returns how
// many are, or 0 when ctx ends.
func (f *feed) wait(ctx context.Context, after int) int {
	for {
		f.mu.Lock()
		n, wake := f.n, f.wake
		f.mu.Unlock()
		if n > after {
			return n
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return 0
		}
	}
}
