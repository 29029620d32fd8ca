package transport

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseFuzzSeeds are event streams for FuzzSSEStream beside the retry
// scanner's table: the shapes of the SSE tests (ids, named events, CR and
// CRLF line ends, multi-line data, comments, blocks without data, an
// unterminated last event).
var sseFuzzSeeds = []string{
	": welcome\n\nid: 1\nevent: greet\ndata: hello\ndata: world\n\ndata: no id of its own\n\n" +
		"id: 3\r\ndata: crlf\r\n\r\nevent: named\rdata: cr\r\rretry: 100\n\ndata: {\"a\":1}\nid: 6\n\n" +
		"id: 9\n\nevent: bare\n\ndata: unterminated at the end\n",
	"id: 7\ndata: seven\n\ndata: eight\n\n",
	"data: [{\"id\":1,\"data\":\"a\"},{\"id\":2,\"event\":\"e\",\"data\":\"b\"}]\n\n",
	"event: tick\ndata: {\"messages\":[{\"id\":\"x\",\"data\":{\"k\":1}}]}\n\nid: 5\ndata: {\"id\":9}\n\n",
	"id: 1\ndata: a\n\nid: 1\ndata: {\"id\":2,\"data\":3}\n\nid\ndata: b\n\n",
	"id: a\x00b\ndata: nul in id\n\n",
	sseBOM + "data: after a byte order mark\n\n",
	"data\ndata\n\ndata:\n\n:comment only\n\nevent\n\n",
	"data:no space\n\ndata:  two spaces\n\nfoo: unknown field\n\nDATA: upper case\n\n",
	"retry: 1500\ndata: x\n\nretry: nope\n\n",
	"retry:2500\nretry: 7\r\nretry:  5\nretry: -5\nretry: 5 \nRetry: 9\nretryx: 1\n: retry: 3\nretry: 0007\n",
	"retry: 99999999999999999999999\n\nretry: 5\nretry: 6",
	"\n" + sseBOM + "data: a mark after a blank line is part of a name\n\ndata: b\n\n",
	sseBOM + sseBOM + "data: a second mark\n\n\xEF\xBBdata: partial\n\n",
	"event: only an event\n\nid: 4\n\ndata: carries id 4\n\ndata\n\nevent: e\ndata:\n\n",
	"id: 1\r\rid: 1\rdata: same id\r\rid:\ndata: id cleared\n\n",
}

// sseRefEvent is an event as the reference reading finds it.
type sseRefEvent struct {
	lastID, typ, data string
}

// sseRefRead reads an event stream by the WHATWG event stream rules,
// written out plainly over the whole input: a byte order mark is dropped
// only as the very first bytes; lines end in CR, LF or CRLF (one line end),
// and a line without an end yet does nothing; a line starting with a colon
// is a comment; a field's name is what precedes its first colon (or the
// whole line) and its value loses one leading space; data appends its value
// and a LF, event sets the type, id sets the last event id unless it holds
// U+0000, retry sets the reconnection time when its value is ASCII digits
// only; a blank line dispatches an event only when the data buffer is not
// empty, and clears the data and the type either way. It returns the
// events and the last retry value in milliseconds (capped at sseMaxRetry),
// or -1 when there is none.
func sseRefRead(in []byte) (events []sseRefEvent, retry int64) {
	s := strings.TrimPrefix(string(in), sseBOM)
	retry = -1
	var (
		lastID, typ string
		data        strings.Builder
		hasData     bool
	)
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return events, retry // an unterminated line, and its block, never count
		}
		line := s[:i]
		end := 1
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			end = 2 // CRLF is one line end
		}
		s = s[i+end:]
		if line == "" {
			if hasData {
				d := data.String()
				events = append(events, sseRefEvent{lastID: lastID, typ: typ, data: d[:len(d)-1]})
			}
			data.Reset()
			typ, hasData = "", false
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				lastID = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil || n > sseMaxRetry {
					n = sseMaxRetry
				}
				retry = n
			}
		}
	}
}

// sseRefMessages is what an SSE stream over in must deliver, by the rules of
// sseStream.messages applied to sseRefEvents, and whether it must end with
// ErrMessageTooLarge (otherwise it ends when the body does).
func sseRefMessages(in []byte, dec Decoder, limit int64) (msgs []Message, tooLarge bool) {
	lastID := ""
	events, _ := sseRefRead(in)
	for _, ev := range events {
		if int64(len(ev.data)) > limit {
			return msgs, true
		}
		msg := Message{Event: ev.typ, Data: []byte(ev.data)}
		if ev.lastID != lastID {
			msg.ID, lastID = ev.lastID, ev.lastID
		} else if dec != nil {
			if decoded, err := dec([]byte(ev.data)); err == nil && len(decoded) > 0 {
				for _, m := range decoded {
					if m.Event == "" {
						m.Event = ev.typ
					}
					if int64(len(m.Data)) > limit {
						return msgs, true
					}
					msgs = append(msgs, m)
				}
				continue
			}
		}
		msgs = append(msgs, msg)
	}
	return msgs, false
}

// FuzzSSEStream runs raw bytes through an SSE stream end to end: the body,
// read in chunks of fuzzed sizes, goes through the liveness tap and the
// go-sse parser to Next or Push, with one of fuzzDecoders and a fuzzed
// MaxMessageSize. It checks that the stream delivers exactly the messages
// of the plain reference reading (sseRefMessages), then ends with the error
// it should (the server closed the stream, or ErrMessageTooLarge) carrying
// the last retry hint of the whole input when it read all of it; that the
// chunking of the body changes nothing; and the properties of
// helpers_fuzz_test.go: Data bounded by the input, no aliasing of the
// body, no message over the limit, allocations bounded.
func FuzzSSEStream(f *testing.F) {
	for _, s := range sseFuzzSeeds {
		f.Add([]byte(s), []byte{3, 1}, uint16(0), uint8(0))
		f.Add([]byte(s), []byte(nil), uint16(4), uint8(3))
	}
	for i, b := range fuzzSeedBodies() {
		// The table's bodies as the data of an event without id, so that
		// the decoders see them.
		f.Add(append(append([]byte("data: "), bytes.ReplaceAll(b, []byte("\n"), []byte(" "))...), "\n\n"...),
			[]byte{byte(i)}, uint16(i%64), uint8(i))
	}
	f.Fuzz(func(t *testing.T, in, chunks []byte, limit uint16, mode uint8) {
		defer fuzzWatchdog(10 * time.Second)()
		start := fuzzHeapAllocs()
		dec := fuzzDecoders[int(mode)%len(fuzzDecoders)]
		push := mode&0x80 != 0
		req := Request{Decoder: dec, MaxMessageSize: int64(limit)}

		input := slices.Clone(in)
		body := &fuzzChunkReader{in: input, sizes: chunks}
		cancelled := false
		s := newSSEStream(body, func() { cancelled = true }, func(error) {}, httpSender{}, req)

		var got []Message
		var err error
		if push {
			err = s.Push(func(m Message) bool {
				got = append(got, m)
				return true
			})
		} else {
			for {
				var m Message
				if m, err = s.Next(context.Background()); err != nil {
					break
				}
				got = append(got, m)
			}
		}
		s.Close()
		if !body.closed || !cancelled {
			t.Fatalf("after Close: body closed %v, request cancelled %v", body.closed, cancelled)
		}
		fuzzCheckAllocs(t, start, len(in))

		want, tooLarge := sseRefMessages(in, dec, req.maxMessageSize())
		kept := fuzzCloneMessages(got)
		fuzzScribble(input)
		fuzzSameMessages(t, "after scribbling over the body", got, kept)
		fuzzSameMessages(t, "against the reference", got, want)

		var te *Error
		if !errors.As(err, &te) || te.Class != Transient || te.Transport != NameSSE {
			t.Fatalf("stream ended with %v, want a transient *Error of the SSE transport", err)
		}
		switch {
		case tooLarge:
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("stream ended with %v, want ErrMessageTooLarge", err)
			}
		case !errors.Is(err, errSSEServerClosed):
			t.Fatalf("stream ended with %v, want the end of the body", err)
		default:
			// The tap saw every byte: its hint is the last of the input.
			_, retry := sseRefRead(in)
			want := time.Duration(max(retry, 0)) * time.Millisecond
			if te.RetryAfter != want {
				t.Fatalf("RetryAfter %v, want %v", te.RetryAfter, want)
			}
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
