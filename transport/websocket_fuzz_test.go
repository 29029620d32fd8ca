package transport

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"time"
)

// wsRefFrame is what a WebSocket frame must yield, found without the
// envelope scanner: with no Decoder, the messages of decodeJSONStd (the
// encoding/json reading in codec_test.go) unless that fails or finds
// nothing but one empty envelope; with a Decoder, its messages unless it
// fails or finds none. Otherwise the frame is one message without id whose
// Data is the whole frame.
func wsRefFrame(frame []byte, dec Decoder) []Message {
	if dec == nil {
		msgs, err := decodeJSONStd(slices.Clone(frame))
		if err == nil && len(msgs) > 0 && !(len(msgs) == 1 && msgs[0].ID == "" && msgs[0].Event == "" && msgs[0].Data == nil) {
			return msgs
		}
	} else if msgs, err := dec(slices.Clone(frame)); err == nil && len(msgs) > 0 {
		return msgs
	}
	return []Message{{Data: slices.Clone(frame)}}
}

// FuzzWSFrames runs a sequence of frames through the WebSocket stream's
// decoding as Next does it: each frame is read into one buffer that is
// reused frame after frame (as wsStream.readBody does), and decoded by
// wsStream.decode into the batch slice reused frame after frame, with the
// stream's reused envelope decoder (envDecoder.frame, which keeps the last
// event name across frames) or one of fuzzDecoders. The input is split into
// frames at the fuzzed separator byte.
//
// It checks that every frame yields exactly the messages of wsRefFrame,
// which decodes each frame afresh and through encoding/json, so that the
// state kept across frames changes nothing; that no message is ever empty
// of content by mistake (a frame always yields at least one message); and
// the properties of helpers_fuzz_test.go: each frame's Data bounded by the
// frame (a frame is already held to MaxMessageSize by the WebSocket
// library's read limit, so this keeps every message under it), and no
// message aliasing the frame buffer, the batch or a later frame: all the
// messages are checked again once every frame has been decoded and the
// buffer scribbled over.
func FuzzWSFrames(f *testing.F) {
	bodies := fuzzSeedBodies()
	for i, b := range bodies {
		f.Add(b, byte('\n'), uint8(i))
	}
	// Frames of the same event name in a row, which share one string.
	f.Add([]byte(`{"id":1,"event":"tick","data":1}`+"\n"+`{"id":2,"event":"tick","data":2}`+"\n"+
		`{"id":3,"event":"t\u0069ck","data":3}`+"\n"+`{"event":"tick"}`+"\n"+`[{"event":"tock"},{"event":"tick"}]`),
		byte('\n'), uint8(0))
	f.Add(bytes.Join(bodies, []byte{0xff}), byte(0xff), uint8(0))
	f.Add(bytes.Join(bodies, []byte{0xff}), byte(0xff), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, sep byte, mode uint8) {
		defer fuzzWatchdog(10 * time.Second)()
		start := fuzzHeapAllocs()
		dec := fuzzDecoders[int(mode)%len(fuzzDecoders)]
		s := &wsStream{decoder: dec}
		frames := bytes.Split(in, []byte{sep})
		var got, want [][]Message
		for _, frame := range frames {
			s.buf = append(s.buf[:0], frame...)
			s.batch = s.decode(s.batch[:0], s.buf)
			s.pending = s.batch
			var msgs []Message
			for len(s.pending) > 0 {
				msgs = append(msgs, s.pop())
			}
			if len(msgs) == 0 {
				t.Fatalf("frame %q yielded no message", frame)
			}
			if n := fuzzDataTotal(msgs); n > len(frame) {
				t.Fatalf("%d bytes of data from a frame of %d bytes", n, len(frame))
			}
			got = append(got, msgs)
		}
		fuzzCheckAllocs(t, start, len(in))
		fuzzScribble(s.buf)
		for i := range s.batch[:cap(s.batch)] {
			s.batch[:cap(s.batch)][i] = Message{ID: "scribbled", Data: s.buf}
		}
		for i, frame := range frames {
			want = append(want, wsRefFrame(frame, dec))
			fuzzSameMessages(t, "frame "+strconv.Itoa(i), got[i], want[i])
		}
	})
}
