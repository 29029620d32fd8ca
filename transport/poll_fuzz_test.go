package transport

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

// errFuzzDone answers every request after the first in FuzzPollBody.
var errFuzzDone = errors.New("fuzz: no more responses")

// fuzzPollRoundTrip serves one body from memory, then fails: the poll
// stream under test never touches the network.
type fuzzPollRoundTrip struct {
	body      []byte
	chunks    []byte
	length    bool // send a Content-Length
	requests  int
	cursor    string // the cursor parameter of the second request
	hasCursor bool
	bodies    []*fuzzChunkReader
}

func (rt *fuzzPollRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.requests++
	if rt.requests > 1 {
		rt.cursor = r.URL.Query().Get(DefaultCursorParam)
		rt.hasCursor = r.URL.Query().Has(DefaultCursorParam)
		return nil, errFuzzDone
	}
	body := &fuzzChunkReader{in: rt.body, sizes: rt.chunks}
	rt.bodies = append(rt.bodies, body)
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: body, ContentLength: -1, Request: r}
	if rt.length {
		resp.ContentLength = int64(len(rt.body))
	}
	return resp, nil
}

// pollRefMessages is what a poll stream must deliver from one response
// body, and how it must then end: wantErr is nil when every message is
// delivered and the stream goes on to its next request.
func pollRefMessages(body []byte, dec Decoder, maxResponse, maxMessage int64) (msgs []Message, wantErr error) {
	if int64(len(body)) > maxResponse {
		return nil, ErrMessageTooLarge
	}
	if dec == nil {
		dec = DecodeJSON
	}
	all, err := dec(slices.Clone(body))
	if err != nil {
		return nil, ErrMalformed
	}
	for i, m := range all {
		if int64(len(m.Data)) > maxMessage {
			return all[:i], ErrMessageTooLarge
		}
	}
	return all, nil
}

// FuzzPollBody runs a response body through the poll and long-poll stream
// (both share pollStream; the long poll's settings make the test need no
// pause): the first request is answered from memory with the body, read in
// chunks of fuzzed sizes, with or without a Content-Length; every later
// request fails with errFuzzDone. With one of fuzzDecoders (nil meaning
// DecodeJSON), a fuzzed MaxMessageSize and a fuzzed MaxResponseSize, it
// checks that the stream delivers exactly the decoder's messages up to the
// first one over the limit, then fails with ErrMessageTooLarge, or with
// ErrMalformed when the decoder fails, or with ErrMessageTooLarge at once
// for a body over MaxResponseSize; otherwise it makes its next request with
// the id of the last message that had one as its cursor, which the server
// reads back exactly. And the properties of helpers_fuzz_test.go: Data
// bounded by the body, no aliasing, no message over the limit, allocations
// bounded.
func FuzzPollBody(f *testing.F) {
	for i, b := range fuzzSeedBodies() {
		f.Add(b, []byte{byte(i)}, uint16(0), uint16(0), uint8(i))
		f.Add(b, []byte(nil), uint16(i%8), uint16(len(b)/2), uint8(i+1))
	}
	f.Fuzz(func(t *testing.T, body, chunks []byte, limit, maxResponse uint16, mode uint8) {
		defer fuzzWatchdog(10 * time.Second)()
		start := fuzzHeapAllocs()
		dec := fuzzDecoders[int(mode)%len(fuzzDecoders)]
		input := slices.Clone(body)
		rt := &fuzzPollRoundTrip{body: input, chunks: chunks, length: mode&0x80 != 0}
		req := Request{Decoder: dec, MaxMessageSize: int64(limit), HTTPClient: &http.Client{Transport: rt}}
		lp := &LongPoll{URL: "http://fuzz.invalid/poll", MinEmptyInterval: -1, MaxResponseSize: int64(maxResponse)}

		var got []Message
		st, err := lp.Open(context.Background(), req)
		if err == nil {
			for {
				var m Message
				if m, err = st.Next(context.Background()); err != nil {
					break
				}
				got = append(got, m)
			}
			st.Close()
		}
		for _, b := range rt.bodies {
			if !b.closed {
				t.Fatal("a response body was left open")
			}
		}
		fuzzCheckAllocs(t, start, len(body))

		effResponse := lp.MaxResponseSize
		if effResponse <= 0 {
			effResponse = defaultMaxResponseSize
		}
		effResponse = max(effResponse, req.maxMessageSize())
		want, wantErr := pollRefMessages(body, dec, effResponse, req.maxMessageSize())
		kept := fuzzCloneMessages(got)
		fuzzScribble(input)
		fuzzSameMessages(t, "after scribbling over the body", got, kept)
		fuzzSameMessages(t, "against the decoder", got, want)

		var te *Error
		if !errors.As(err, &te) || te.Class != Transient || te.Transport != NameLongPoll {
			t.Fatalf("stream ended with %v, want a transient *Error of the long-poll transport", err)
		}
		switch {
		case wantErr != nil:
			if !errors.Is(err, wantErr) {
				t.Fatalf("stream ended with %v, want %v", err, wantErr)
			}
			if rt.requests != 1 {
				t.Fatalf("%d requests after a failed response, want none", rt.requests-1)
			}
		case !errors.Is(err, errFuzzDone):
			t.Fatalf("stream ended with %v, want the failure of its second request", err)
		default:
			cursor := ""
			for _, m := range got {
				if m.ID != "" {
					cursor = m.ID
				}
			}
			if rt.hasCursor != (cursor != "") || rt.cursor != cursor {
				t.Fatalf("second request's cursor %q (sent %v), want %q", rt.cursor, rt.hasCursor, cursor)
			}
		}
		if n := fuzzDataTotal(got); n > len(body) {
			t.Fatalf("%d bytes of data from a body of %d bytes", n, len(body))
		}
		for i, m := range got {
			if int64(len(m.Data)) > req.maxMessageSize() {
				t.Fatalf("message %d has %d bytes, limit %d", i, len(m.Data), req.maxMessageSize())
			}
		}
	})
}
