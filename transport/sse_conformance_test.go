package transport

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseConformanceCases hold the WHATWG event stream rules that apply to a
// client outside a browser, each named after the rule or after the
// web-platform-tests eventsource case it follows (message.py there ends
// every message with a blank line unless told otherwise; the streams below
// spell out what the server sends).
//
// The rules, as this transport reads them:
//
//   - The stream is UTF-8 whatever charset the Content-Type names; a byte
//     order mark at the very start of the stream is dropped, and only there,
//     and only one.
//   - A line ends at CR, at LF, or at CR LF, which is one line end, never a
//     line and a blank line.
//   - A line that starts with a colon is a comment and is ignored.
//   - Otherwise a line is a field: its name is what comes before the first
//     colon, or the whole line when there is none (the value is then empty);
//     its value is what comes after that colon, less one leading space if
//     there is one. Names are matched whole and case-sensitively, and a field
//     whose name is not data, event, id or retry is ignored.
//   - data appends its value and a LF to the data buffer; event sets the
//     event type; id sets the last event id unless its value holds U+0000,
//     an empty value clearing it; retry sets the reconnection time when its
//     value is ASCII digits only (base ten, leading zeros allowed), and is
//     ignored otherwise. Each applies when its line ends, whether or not its
//     block is ever dispatched.
//   - A blank line dispatches the block: when the data buffer is empty (no
//     data field, as in a block of only an event, id, retry, comments or
//     unknown fields) there is no event, and the event type is cleared all
//     the same; otherwise the last LF of the data is dropped and the event
//     goes out with the data, the event type and the last event id, which
//     stays in force for the events that follow.
//   - At the end of the stream, a block not closed by a blank line is
//     discarded.
//   - The response opens a stream only when its MIME type's essence is
//     text/event-stream; its parameters, even malformed ones, do not matter.
//
// Two choices are this SDK's own: an unnamed event has an empty Event (a
// browser calls it "message"), and a Message's ID is the last event id only
// when it changed since the previous event delivered, empty otherwise. An id
// set by a block that dispatches nothing is therefore carried by the next
// event delivered, which is the first one whose last event id it is.
var sseConformanceCases = []struct {
	rule        string
	contentType string // "" for text/event-stream
	stream      string
	want        []Message
	retry       time.Duration // RetryAfter of the error that ends the stream
	rejected    bool          // Open fails: the type is not an event stream
}{
	// The stream as a whole.
	{
		rule:   "wpt format-bom: a byte order mark at the very start is dropped",
		stream: "\uFEFFdata:1\n\n\uFEFFdata:2\n\ndata:3\n\n",
		want:   sseWant("", "", "1", "", "", "3"),
	},
	{
		rule:   "wpt format-bom-2: only one byte order mark is dropped",
		stream: "\uFEFF\uFEFFdata:1\n\ndata:2\n\ndata:3\n\n",
		want:   sseWant("", "", "2", "", "", "3"),
	},
	{
		rule:   "stream: a byte order mark after a leading LF is part of a field name",
		stream: "\n\uFEFFdata:1\n\ndata:2\n\n",
		want:   sseWant("", "", "2"),
	},
	{
		rule:   "stream: a byte order mark after a leading CR LF is part of a field name",
		stream: "\r\n\r\n\uFEFFdata:1\n\ndata:2\n\n",
		want:   sseWant("", "", "2"),
	},
	{
		rule:   "stream: a byte order mark after a leading comment is part of a field name",
		stream: ":\n\n\uFEFFdata:1\n\ndata:2\n\n",
		want:   sseWant("", "", "2"),
	},
	{
		rule:        "wpt format-utf-8: the stream is UTF-8 whatever the charset",
		contentType: "text/event-stream;charset=windows-1252",
		stream:      "data:ok\u2026\n\n",
		want:        sseWant("", "", "ok\u2026"),
	},
	{
		rule:   "wpt format-null-character: U+0000 in data is kept",
		stream: "data:\x00\n\n",
		want:   sseWant("", "", "\x00"),
	},

	// Line ends.
	{
		rule:   "wpt format-newlines: CR LF, LF and CR each end a line",
		stream: "data:test\r\ndata\ndata:test\r\n\r\n",
		want:   sseWant("", "", "test\n\ntest"),
	},
	{
		rule:   "lines: CR alone ends a line, and CR CR ends a block",
		stream: "id:1\rdata:a\r\rdata:b\r\n\r\ndata:c\n\r\n",
		want:   sseWant("1", "", "a", "", "", "b", "", "", "c"),
	},
	{
		rule:   "lines: CR LF is one line end, never a line and a blank line",
		stream: "id: 1\r\ndata:a\r\nevent: e\r\ndata:b\r\n\r\nid: 2\r\n\r\ndata: c\r\n\r\n",
		want:   sseWant("1", "e", "a\nb", "2", "", "c"),
	},

	// Comments.
	{
		rule: "wpt format-comments: a line starting with a colon is a comment",
		stream: "data:1\r:\x00\n:\r\ndata:2\n:" + strings.Repeat("x", 2048) +
			"\rdata:3\n:data:fail\r:" + strings.Repeat("x", 2048) + "\ndata:4\n\n",
		want: sseWant("", "", "1\n2\n3\n4"),
	},
	{
		rule:   "comments: a block of comments dispatches nothing",
		stream: ": hello\n\n:\n:data: no\n\ndata: x\n\n",
		want:   sseWant("", "", "x"),
	},

	// Fields.
	{
		rule: "wpt format-field-parsing: names are matched whole, before the first colon",
		stream: "data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\n" +
			"data:3\rdata:\r\n data:32\ndata:4\n\n",
		want: sseWant("", "", "\x00\n 2\n1\n3\n\n4"),
	},
	{
		rule:   "wpt format-field-unknown: unknown fields and lines without a known name are ignored",
		stream: "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
		want:   sseWant("", "", "test\n\ntest"),
	},
	{
		rule:   "fields: names are case-sensitive and take no spaces",
		stream: "Data: a\nDATA: b\ndata : c\n data: d\ndatas: e\nEvent: f\nID: 1\ndata:g\n\n",
		want:   sseWant("", "", "g"),
	},
	{
		rule:   "fields: a line without a colon is a name with an empty value",
		stream: "id: 1\ndata: a\n\nevent: x\nevent\nid\ndata\n\n",
		want:   sseWant("1", "", "a", "", "", ""),
	},
	{
		rule:   "fields: the value is everything after the first colon",
		stream: "data:a: b:c\nevent::e\nid:: 1\n\n",
		want:   sseWant(": 1", ":e", "a: b:c"),
	},
	{
		rule:   "wpt format-leading-space: one space after the colon is dropped, no tab",
		stream: "data:\ttest\rdata: \ndata:test\n\n",
		want:   sseWant("", "", "\ttest\n\ntest"),
	},
	{
		rule:   "fields: only the first of several spaces is dropped",
		stream: "data:  two\nevent:  e\nid:  3\n\n",
		want:   sseWant(" 3", " e", " two"),
	},

	// data and dispatch.
	{
		rule:   "wpt format-field-data: data lines join with LF, the last LF is dropped",
		stream: "data:\n\ndata\ndata\n\ndata:test\n\n",
		want:   sseWant("", "", "", "", "", "\n", "", "", "test"),
	},
	{
		rule:   "wpt event-data: an empty data field is an event, a block of unknown fields is not",
		stream: "data:msg\ndata:msg\n\n:\nfalsedata:msg\n\ndata:\n\ndata:end\n\n",
		want:   sseWant("", "", "msg\nmsg", "", "", "", "", "", "end"),
	},
	{
		rule:   "dispatch: an empty data field is an event, named or not, with or without id",
		stream: "event: e\ndata\n\ndata:\n\nid: 4\ndata: \n\n",
		want:   sseWant("", "e", "", "", "", "", "4", "", ""),
	},
	{
		rule:   "dispatch: an event field without data dispatches nothing, and its type is cleared",
		stream: "event: x\n\ndata: a\n\nevent: y\n: comment\n\nevent: z\ndata: b\n\n",
		want:   sseWant("", "", "a", "", "z", "b"),
	},
	{
		rule:   "dispatch: a block with only an id dispatches nothing; the next event carries that id",
		stream: "id: 1\ndata: a\n\nid: 2\n\ndata: b\n\ndata: c\n\n",
		want:   sseWant("1", "", "a", "2", "", "b", "", "", "c"),
	},
	{
		rule:   "dispatch: an id-only block repeating the id in force changes nothing",
		stream: "id: 1\ndata: a\n\nid: 1\n\ndata: b\n\n",
		want:   sseWant("1", "", "a", "", "", "b"),
	},
	{
		rule:   "dispatch: of several blocks without data, the last id counts",
		stream: "id: 1\n\nevent: e\nid: 2\n\nid: 3\nretry: 50\n\ndata: x\n\n",
		want:   sseWant("3", "", "x"),
		retry:  50 * time.Millisecond,
	},
	{
		rule:   "dispatch: an id-only block before the end dispatches nothing",
		stream: "data: a\n\nid: 9\n\n",
		want:   sseWant("", "", "a"),
	},
	{
		rule:   "dispatch: a block of retry, comment or unknown fields dispatches nothing",
		stream: "retry: 5\n\n: c\n\nfoo: bar\n\ndata: x\n\n",
		want:   sseWant("", "", "x"),
		retry:  5 * time.Millisecond,
	},
	{
		rule:   "dispatch: an unnamed event has an empty Event (browsers: message)",
		stream: "data: x\n\nevent: message\ndata: y\n\n",
		want:   sseWant("", "", "x", "", "message", "y"),
	},

	// event.
	{
		rule:   "wpt format-field-event: the event field names the event, for that event only",
		stream: "event:test\ndata:x\n\ndata:x\n\n",
		want:   sseWant("", "test", "x", "", "", "x"),
	},
	{
		rule:   "wpt format-field-event-empty: an empty event field leaves the event unnamed",
		stream: "event: \ndata:data\n\n",
		want:   sseWant("", "", "data"),
	},
	{
		rule:   "event: the last event field of a block wins",
		stream: "event: a\nevent: b\ndata: x\n\n",
		want:   sseWant("", "b", "x"),
	},

	// id.
	{
		rule:   "wpt format-field-id: the id applies to its event",
		stream: "id: \u2026\nretry: 200\ndata: hello\n\n",
		want:   sseWant("\u2026", "", "hello"),
		retry:  200 * time.Millisecond,
	},
	{
		rule:   "wpt format-field-id-3 persists: the id stays in force (an unchanged id is not repeated)",
		stream: "id: 1\ndata: 1\n\ndata:2\n\n",
		want:   sseWant("1", "", "1", "", "", "2"),
	},
	{
		rule:   "wpt format-field-id-3 changes and persists",
		stream: "id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n",
		want:   sseWant("1", "", "1", "2", "", "2", "", "", "3"),
	},
	{
		rule:   "wpt format-field-id-3 resets: an empty id clears the last event id",
		stream: "id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\nid: 1\ndata: 4\n\n",
		want:   sseWant("1", "", "1", "", "", "2", "", "", "3", "1", "", "4"),
	},
	{
		rule:   "wpt format-field-id-null: an id holding U+0000 is ignored",
		stream: "id: 1\ndata: a\n\nid: \x00\x00\ndata: b\n\nid: 2\x003\ndata: c\n\nid: 3\ndata: d\n\n",
		want:   sseWant("1", "", "a", "", "", "b", "", "", "c", "3", "", "d"),
	},
	{
		rule:   "id: an id-only block holding U+0000 is ignored",
		stream: "id: 1\ndata: a\n\nid: 2\x00\n\ndata: b\n\n",
		want:   sseWant("1", "", "a", "", "", "b"),
	},

	// The end of the stream.
	{
		rule:   "wpt format-data-before-final-empty-line: a block cut off by the end is not dispatched",
		stream: "retry:1000\ndata:test1\n\nid:test\ndata:test2",
		want:   sseWant("", "", "test1"),
		retry:  time.Second,
	},
	{
		rule:   "end: a last block whose blank line never comes is not dispatched",
		stream: "data: a\n\ndata: b\n",
		want:   sseWant("", "", "a"),
	},
	{
		rule:   "end: likewise with CR line ends",
		stream: "data: a\r\rid: 2\rdata: b\r",
		want:   sseWant("", "", "a"),
	},

	// retry.
	{
		rule:   "wpt format-field-retry: retry is in base ten, leading zeros allowed",
		stream: "retry:02000\ndata:x\n\n",
		want:   sseWant("", "", "x"),
		retry:  2 * time.Second,
	},
	{
		rule:   "wpt format-field-retry-bogus: a value with a non-digit is ignored",
		stream: "retry:2000\nretry:1000x\ndata:x\n\n",
		want:   sseWant("", "", "x"),
		retry:  2 * time.Second,
	},
	{
		rule:   "wpt format-field-retry-empty: an empty value is ignored",
		stream: "retry:2000\nretry\nretry:\nretry: \ndata:x\n\n",
		want:   sseWant("", "", "x"),
		retry:  2 * time.Second,
	},
	{
		rule:   "retry: no sign, no spaces around the digits",
		stream: "retry: 100\nretry: -5\nretry: +5\nretry:  7\nretry: 8 \ndata: x\n\n",
		want:   sseWant("", "", "x"),
		retry:  100 * time.Millisecond,
	},
	{
		rule:   "retry: applies when its line ends, in a block never dispatched",
		stream: "data: x\n\nretry: 300\n",
		want:   sseWant("", "", "x"),
		retry:  300 * time.Millisecond,
	},

	// The response's type.
	{
		rule:        "wpt format-mime-trailing-semicolon: a trailing semicolon is allowed",
		contentType: "text/event-stream;",
		stream:      "data: x\n\n",
		want:        sseWant("", "", "x"),
	},
	{
		rule:        "MIME: the essence is matched case-insensitively, malformed parameters ignored",
		contentType: "Text/Event-Stream; foo; charset=utf-8",
		stream:      "data: x\n\n",
		want:        sseWant("", "", "x"),
	},
	{
		rule:        "wpt format-mime-valid-bogus: another valid type fails the connection",
		contentType: "text/x-bogus",
		stream:      "data: x\n\n",
		rejected:    true,
	},
	{
		rule:        "wpt format-mime-bogus: a type that does not parse fails the connection",
		contentType: "x bogus",
		stream:      "data: x\n\n",
		rejected:    true,
	},
}

// sseWant builds messages from (id, event, data) triples.
func sseWant(fields ...string) []Message {
	var out []Message
	for i := 0; i+2 < len(fields); i += 3 {
		out = append(out, Message{ID: fields[i], Event: fields[i+1], Data: []byte(fields[i+2])})
	}
	return out
}

// TestSSE_conformance serves each stream of sseConformanceCases whole and
// one byte per flushed write, and reads it through Next and through Push.
func TestSSE_conformance(t *testing.T) {
	for _, tc := range sseConformanceCases {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			for _, bytewise := range []bool{false, true} {
				srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
					ct := tc.contentType
					if ct == "" {
						ct = "text/event-stream"
					}
					w.Header().Set("Content-Type", ct)
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
					if !bytewise {
						sseWrite(w, tc.stream)
						return
					}
					for i := range len(tc.stream) {
						sseWrite(w, tc.stream[i:i+1])
					}
				})
				how := "whole"
				if bytewise {
					how = "bytewise"
				}
				for _, push := range []bool{false, true} {
					consumer := how + ", Next"
					if push {
						consumer = how + ", Push"
					}
					st, err := (&SSE{URL: srv.URL}).Open(t.Context(), Request{})
					if tc.rejected {
						if err == nil {
							st.Close()
							t.Fatalf("%s: Open succeeded for Content-Type %q", consumer, tc.contentType)
						}
						wantErr(t, err, Unsupported, ErrBadContentType)
						continue
					}
					if err != nil {
						t.Fatalf("%s: Open: %v", consumer, err)
					}
					var got []Message
					if push {
						got, err = pushAll(t, st)
					} else {
						got, err = pushNextAll(t, st)
					}
					st.Close()
					pushSameMessages(t, consumer, got, tc.want)
					te := wantErr(t, err, Transient, errSSEServerClosed)
					if te.RetryAfter != tc.retry {
						t.Fatalf("%s: the stream ended with RetryAfter %v, want %v", consumer, te.RetryAfter, tc.retry)
					}
				}
			}
		})
	}
}
