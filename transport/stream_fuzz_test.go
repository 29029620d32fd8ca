package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

// streamErrKind names what ended a reading of an HTTP stream body, for
// comparing two readings of the same bytes.
func streamErrKind(err error) string {
	switch {
	case err == io.EOF, errors.Is(err, errStreamServerClosed):
		return "end"
	case errors.Is(err, errTruncated):
		return "truncated"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrMessageTooLarge):
		return "too large"
	}
	return "other"
}

// streamRefMessages is what an HTTPStream body must deliver: the values
// the framer finds in the whole body read at once, each decoded afresh as
// the stream decodes it (the envelope with the WebSocket frame fallback
// when there is no Decoder; the Decoder's messages, or the whole value when
// it fails), and what ended the framing.
func streamRefMessages(in []byte, format StreamFormat, dec Decoder, limit int64) ([]Message, error) {
	units, err := frameUnits(bytes.NewReader(in), format, nil, limit)
	var out []Message
	for _, u := range units {
		switch msgs, derr := decodeWith(dec, []byte(u)); {
		case derr != nil:
			out = append(out, Message{Data: []byte(u)})
		default:
			out = append(out, msgs...)
		}
	}
	return out, err
}

// decodeWith decodes one value as the stream does, freshly.
func decodeWith(dec Decoder, unit []byte) ([]Message, error) {
	if dec == nil {
		return decodeFrame(unit), nil
	}
	return dec(unit)
}

// FuzzHTTPStreamBody runs raw bytes through the stream transport's
// connection end to end: the body, read in chunks of fuzzed sizes, goes
// through the tap, the framer of a fuzzed format and the decoding to Next,
// with one of fuzzDecoders and a fuzzed MaxMessageSize. It checks that Next
// delivers exactly the messages of the values that the framer finds in the
// whole body read at once, each decoded afresh (so neither the chunking nor
// the decoder state kept across values changes anything), and then ends as
// that framing did; and the properties of helpers_fuzz_test.go: Data
// bounded by the input, no aliasing of the body or of the framer's reused
// buffer, no message over the limit, allocations bounded.
func FuzzHTTPStreamBody(f *testing.F) {
	seeds := []string{
		`{"id":1,"data":"a"}{"id":2,"event":"e","data":[1,2]}`,
		"{\"id\":1,\"data\":1}\n\n{\"id\":2,\"data\":2}\r\n",
		"\x1e{\"id\":\"a\",\"data\":1}\n\x1e[{\"id\":\"b\"},{\"id\":\"c\"}]\n",
		`1 -2.5e3 "x\"y" true false null"z"[]{}`,
		`{"price":3}{"price":4}`,
		`{"id":1,"data":"a"}{"id":2,"data":`,
		"hello\n{\"id\":1}\n",
		`{"messages":[{"id":1,"data":1},{"id":2,"data":2}]}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), []byte{1, 5, 2}, uint16(0), uint8(i))
		f.Add([]byte(s), []byte(nil), uint16(8+i), uint8(i+4))
	}
	for i, b := range fuzzSeedBodies() {
		f.Add(b, []byte{byte(i)}, uint16(0), uint8(i))
	}
	f.Fuzz(func(t *testing.T, in, chunks []byte, limit uint16, mode uint8) {
		defer fuzzWatchdog(10 * time.Second)()
		start := fuzzHeapAllocs()
		format := StreamFormat(mode % 4)
		dec := fuzzDecoders[int(mode/4)%len(fuzzDecoders)]
		req := Request{Decoder: dec, MaxMessageSize: int64(limit)}

		input := slices.Clone(in)
		body := &fuzzChunkReader{in: input, sizes: chunks}
		cancelled := false
		s := newHTTPStreamConn(body, newFramer(format, nil), dec, req,
			func() { cancelled = true }, func(error) {}, func() {}, httpSender{})
		var got []Message
		var err error
		for {
			var m Message
			if m, err = s.Next(context.Background()); err != nil {
				break
			}
			got = append(got, m)
		}
		s.Close()
		if !body.closed || !cancelled {
			t.Fatalf("after Close: body closed %v, request cancelled %v", body.closed, cancelled)
		}
		fuzzCheckAllocs(t, start, len(in))

		want, wantErr := streamRefMessages(in, format, dec, req.maxMessageSize())
		kept := fuzzCloneMessages(got)
		fuzzScribble(input)
		fuzzSameMessages(t, "after scribbling over the body", got, kept)
		fuzzSameMessages(t, format.String()+" against the whole body framed and decoded afresh", got, want)

		var te *Error
		if !errors.As(err, &te) || te.Class != Transient || te.Transport != NameStream {
			t.Fatalf("stream ended with %v, want a transient *Error of the stream transport", err)
		}
		if streamErrKind(err) != streamErrKind(wantErr) {
			t.Fatalf("stream ended with %v; framing the whole body ended with %v", err, wantErr)
		}
		if n := fuzzDataTotal(got); n > len(in) {
			t.Fatalf("%d bytes of data from %d bytes of input", n, len(in))
		}
		for i, m := range got {
			if int64(len(m.Data)) > req.maxMessageSize() {
				t.Fatalf("message %d has %d bytes, limit %d", i, len(m.Data), req.maxMessageSize())
			}
		}
	})
}
