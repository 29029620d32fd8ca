package transport

import (
	"strconv"
	"testing"
)

// BenchmarkEnvelopeFrame decodes one WebSocket frame holding a JSON envelope
// of about 200 bytes, the message shape of the bench module, with the
// decoder the WebSocket and stream transports use by default.
func BenchmarkEnvelopeFrame(b *testing.B) {
	const text = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs; sphinx of black quartz, judge my vow; how vexingly quick daft zebras"
	frame := []byte(`{"id":` + strconv.Itoa(123456) + `,"event":"tick","data":{"seq":123456,"text":"` + text + `"}}`)
	var d envDecoder
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if msgs := d.frame(nil, frame); len(msgs) != 1 {
			b.Fatal(len(msgs))
		}
	}
}
