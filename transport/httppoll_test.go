package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds the harness of the polling tests (a scripted server and
// helpers) and the behaviours LongPoll and Poll share, run once per
// transport. Their failure classification is in httppoll_failure_test.go.

// pollReply answers one request made to a pollServer.
type pollReply func(w http.ResponseWriter, r *http.Request)

// seenRequest is what a pollServer recorded of one request.
type seenRequest struct {
	query  url.Values
	header http.Header
	at     time.Time
}

// pollServer answers its n-th request with its n-th reply and every request
// past the script with 410 Gone, recording each request.
type pollServer struct {
	*httptest.Server
	replies []pollReply

	mu   sync.Mutex
	seen []seenRequest
}

func newPollServer(t *testing.T, replies ...pollReply) *pollServer {
	t.Helper()
	ps := &pollServer{replies: replies}
	ps.Server = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *pollServer) serve(w http.ResponseWriter, r *http.Request) {
	ps.mu.Lock()
	n := len(ps.seen)
	ps.seen = append(ps.seen, seenRequest{query: r.URL.Query(), header: r.Header.Clone(), at: time.Now()})
	reply := pollReplyStatus(http.StatusGone)
	if n < len(ps.replies) {
		reply = ps.replies[n]
	}
	ps.mu.Unlock()
	reply(w, r)
}

// requests returns a copy of what the server has seen so far.
func (ps *pollServer) requests() []seenRequest {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]seenRequest(nil), ps.seen...)
}

// pollReplyJSON answers 200 with body.
func pollReplyJSON(body string) pollReply {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// pollReplyStatus answers code with the given header pairs and a short body.
func pollReplyStatus(code int, header ...string) pollReply {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		if code != http.StatusNoContent {
			_, _ = w.Write([]byte("status " + strconv.Itoa(code)))
		}
	}
}

// pollReplyStall holds the request until the client gives up on it.
func pollReplyStall(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// pollCase configures one polling transport under test.
type pollCase struct {
	url             string
	cursorParam     string
	decoder         Decoder
	maxResponseSize int64
}

// pollingKinds are the transports the shared suite runs against, set up to
// re-request quickly.
var pollingKinds = []struct {
	name string
	make func(c pollCase) Transport
}{
	{NameLongPoll, func(c pollCase) Transport {
		return &LongPoll{URL: c.url, CursorParam: c.cursorParam, Decoder: c.decoder,
			MaxResponseSize: c.maxResponseSize, Hold: 50 * time.Millisecond}
	}},
	{NamePoll, func(c pollCase) Transport {
		return &Poll{URL: c.url, CursorParam: c.cursorParam, Decoder: c.decoder,
			MaxResponseSize: c.maxResponseSize, Interval: time.Millisecond}
	}},
}

// forEachPolling runs test once per polling transport.
func forEachPolling(t *testing.T, test func(t *testing.T, name string, mk func(pollCase) Transport)) {
	for _, k := range pollingKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.name, k.make) })
	}
}

// pollCtx is a context that fails a hung test instead of hanging it.
func pollCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pollOpen opens tr and closes the stream when the test ends (before
// any server registered earlier is closed).
func pollOpen(t *testing.T, tr Transport, req Request) (Stream, error) {
	t.Helper()
	st, err := tr.Open(pollCtx(t), req)
	if err == nil {
		t.Cleanup(func() { _ = st.Close() })
	}
	return st, err
}

// pollMustOpen is pollOpen for tests whose Open must succeed.
func pollMustOpen(t *testing.T, tr Transport, req Request) Stream {
	t.Helper()
	st, err := pollOpen(t, tr, req)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

// pollNext calls st.Next with a bounded context.
func pollNext(t *testing.T, st Stream) (Message, error) {
	t.Helper()
	return st.Next(pollCtx(t))
}

// pollMsgString renders m compactly for comparisons.
func pollMsgString(m Message) string { return m.ID + "|" + m.Event + "|" + string(m.Data) }

// expectPollMessages reads len(want) messages and fails on any error.
func expectPollMessages(t *testing.T, st Stream, want ...string) {
	t.Helper()
	for i, w := range want {
		m, err := pollNext(t, st)
		if err != nil {
			t.Fatalf("message %d: Next error %v, want %q", i, err, w)
		}
		if got := pollMsgString(m); got != w {
			t.Fatalf("message %d = %q, want %q", i, got, w)
		}
	}
}

// expectPollError checks that err is a *Error with the given class and op and
// that it matches every target.
func expectPollError(t *testing.T, err error, class Class, op string, targets ...error) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *Error", err, err)
	}
	if te.Class != class || te.Op != op {
		t.Fatalf("error %v: class %v op %q, want class %v op %q", err, te.Class, te.Op, class, op)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %v does not match %v", err, target)
		}
	}
	return te
}

// pollCloseWithin closes st and fails if Close does not return promptly.
func pollCloseWithin(t *testing.T, st Stream) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = st.Close()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestPolling_Next_ordersAcrossResponses(t *testing.T) {
	forEachPolling(t, func(t *testing.T, name string, mk func(pollCase) Transport) {
		srv := newPollServer(t,
			pollReplyJSON(`[{"id":1,"data":"a"},{"id":2,"event":"tick","data":{"n":2}}]`),
			pollReplyStatus(http.StatusNoContent),
			pollReplyJSON(`{"messages":[{"data":"no id"},{"id":"x3","data":[3]}]}`),
			pollReplyJSON(`[]`),
			pollReplyJSON(` {"id":4,"data":4} `),
			pollReplyJSON(`{"messages":[]}`),
		)
		header := http.Header{"X-Token": {"secret"}}
		st := pollMustOpen(t, mk(pollCase{url: srv.URL + "/feed?topic=a"}), Request{Header: header})
		header.Set("X-Token", "changed after Open")

		expectPollMessages(t, st, `1||"a"`, `2|tick|{"n":2}`, `||"no id"`, `x3||[3]`, `4||4`)
		_, err := pollNext(t, st)
		te := expectPollError(t, err, EndOfStream, "read")
		if te.StatusCode != http.StatusGone || te.Transport != name {
			t.Errorf("end error %+v: want status 410 from %s", te, name)
		}
		if _, again := pollNext(t, st); again != err {
			t.Errorf("Next after the end = %v, want the same error %v", again, err)
		}

		wantSince := []string{"", "2", "2", "x3", "x3", "4", "4"}
		seen := srv.requests()
		if len(seen) != len(wantSince) {
			t.Fatalf("server saw %d requests, want %d", len(seen), len(wantSince))
		}
		for i, r := range seen {
			if got := r.query.Get("since"); got != wantSince[i] || r.query.Has("since") != (wantSince[i] != "") {
				t.Errorf("request %d: since=%q (present %v), want %q", i, got, r.query.Has("since"), wantSince[i])
			}
			if got := r.query.Get("topic"); got != "a" {
				t.Errorf("request %d: topic=%q, want the URL's own parameter kept", i, got)
			}
			if got := r.header.Get("X-Token"); got != "secret" {
				t.Errorf("request %d: X-Token=%q, want the header as it was at Open", i, got)
			}
			if got := r.header.Get("Accept"); got != "application/json" {
				t.Errorf("request %d: Accept=%q", i, got)
			}
		}
	})
}

// pollBodyTracker is a RoundTripper that records whether each response body was
// read to its end and closed, which the connection's reuse depends on.
type pollBodyTracker struct {
	mu     sync.Mutex
	bodies []*pollTrackedBody
}

type pollTrackedBody struct {
	io.ReadCloser
	status      int
	eof, closed bool
}

func (bt *pollBodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	tb := &pollTrackedBody{ReadCloser: resp.Body, status: resp.StatusCode}
	resp.Body = tb
	bt.mu.Lock()
	bt.bodies = append(bt.bodies, tb)
	bt.mu.Unlock()
	return resp, nil
}

func (tb *pollTrackedBody) Read(p []byte) (int, error) {
	n, err := tb.ReadCloser.Read(p)
	if err == io.EOF {
		tb.eof = true
	}
	return n, err
}

func (tb *pollTrackedBody) Close() error {
	tb.closed = true
	return tb.ReadCloser.Close()
}

func TestPolling_drainsAndClosesBodies(t *testing.T) {
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		srv := newPollServer(t,
			pollReplyJSON(`[{"id":1}]`),
			pollReplyStatus(http.StatusNoContent),
			pollReplyJSON(`[]`),
			pollReplyJSON(`[{"id":2}]`),
			pollReplyStatus(http.StatusGone), // with a short body to drain
		)
		tracker := &pollBodyTracker{}
		st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{HTTPClient: &http.Client{Transport: tracker}})
		expectPollMessages(t, st, "1||", "2||")
		_, err := pollNext(t, st)
		expectPollError(t, err, EndOfStream, "read")
		tracker.mu.Lock()
		defer tracker.mu.Unlock()
		if len(tracker.bodies) != 5 {
			t.Fatalf("%d responses, want 5", len(tracker.bodies))
		}
		for i, b := range tracker.bodies {
			if !b.eof || !b.closed {
				t.Errorf("response %d (status %d): read to end %v, closed %v", i, b.status, b.eof, b.closed)
			}
		}
	})
}

func TestPolling_Open_cursor(t *testing.T) {
	tests := []struct {
		name, cursor, param, wantParam string
	}{
		{"default param", "c0", "", "since"},
		{"named param", "c0", "after", "after"},
		{"escaped value", "a b&c", "", "since"},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(`[{"id":"n1"}]`))
				st := pollMustOpen(t, mk(pollCase{url: srv.URL, cursorParam: tt.param}), Request{Cursor: tt.cursor})
				expectPollMessages(t, st, "n1||")
				_, err := pollNext(t, st)
				expectPollError(t, err, EndOfStream, "read")
				seen := srv.requests()
				if len(seen) != 2 {
					t.Fatalf("server saw %d requests, want 2", len(seen))
				}
				for i, want := range []string{tt.cursor, "n1"} {
					if got := seen[i].query.Get(tt.wantParam); got != want {
						t.Errorf("request %d: %s=%q, want %q", i, tt.wantParam, got, want)
					}
					if tt.wantParam != "since" && seen[i].query.Has("since") {
						t.Errorf("request %d also carries since", i)
					}
				}
			})
		}
	})
}

// pollLineDecoder reads a body of text lines, one message per non-empty line,
// with an id derived from the line so that a server that repeats its whole
// state can still be followed.
func pollLineDecoder(body []byte) ([]Message, error) {
	var out []Message
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("ERROR")) {
			return nil, errPollLineDecoder
		}
		sum := sha256.Sum256(line)
		out = append(out, Message{ID: hex.EncodeToString(sum[:4]), Data: bytes.Clone(line)})
	}
	return out, sc.Err()
}

var errPollLineDecoder = errors.New("line decoder: server reported an error")

func pollLineID(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:4])
}

func TestPolling_customDecoder(t *testing.T) {
	text := func(body string) pollReply {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(body))
		}
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		srv := newPollServer(t, text("alpha\nbeta\n"), text("alpha\nbeta\ngamma\n"), text("ERROR overloaded\n"))
		st := pollMustOpen(t, mk(pollCase{url: srv.URL, decoder: pollLineDecoder}),
			Request{Header: http.Header{"Accept": {"text/plain"}}})
		expectPollMessages(t, st,
			pollLineID("alpha")+"||alpha", pollLineID("beta")+"||beta",
			pollLineID("alpha")+"||alpha", pollLineID("beta")+"||beta", pollLineID("gamma")+"||gamma")
		_, err := pollNext(t, st)
		expectPollError(t, err, Transient, "read", ErrMalformed, errPollLineDecoder)

		seen := srv.requests()
		if len(seen) != 3 {
			t.Fatalf("server saw %d requests, want 3", len(seen))
		}
		for i, want := range []string{"", pollLineID("beta"), pollLineID("gamma")} {
			if got := seen[i].query.Get("since"); got != want {
				t.Errorf("request %d: since=%q, want %q", i, got, want)
			}
			if got := seen[i].header.Get("Accept"); got != "text/plain" {
				t.Errorf("request %d: Accept=%q, want the caller's", i, got)
			}
		}
	})
}

func TestPolling_Close(t *testing.T) {
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		srv := newPollServer(t, pollReplyJSON(`[{"id":1},{"id":2}]`))
		st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{})
		expectPollMessages(t, st, "1||")
		pollCloseWithin(t, st)
		pollCloseWithin(t, st) // idempotent
		_, err := pollNext(t, st)
		expectPollError(t, err, Transient, "read", net.ErrClosed)
		if n := len(srv.requests()); n != 1 {
			t.Errorf("server saw %d requests, want 1", n)
		}
	})
}

func TestPolling_Open_ctxEndsStream(t *testing.T) {
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		srv := newPollServer(t, pollReplyJSON(`[{"id":1},{"id":2}]`))
		ctx, cancel := context.WithCancel(pollCtx(t))
		st, err := mk(pollCase{url: srv.URL}).Open(ctx, Request{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		cancel()
		_, err = pollNext(t, st)
		expectPollError(t, err, Transient, "read", context.Canceled)
	})
}

func TestPolling_query(t *testing.T) {
	tests := []struct {
		name      string
		rawURL    string // appended to the server's URL
		query     url.Values
		cursor    string
		wantQuery []url.Values // per request, the parameters checked
	}{
		{
			name:   "added and replacing",
			rawURL: "/feed?token=old&token=older&topic=a",
			query:  url.Values{"token": {"new"}, "extra": {"x", "y"}},
			cursor: "c0",
			wantQuery: []url.Values{
				{"token": {"new"}, "topic": {"a"}, "extra": {"x", "y"}, "since": {"c0"}},
				{"token": {"new"}, "topic": {"a"}, "extra": {"x", "y"}, "since": {"1"}},
			},
		},
		{
			name:   "the cursor wins over a query parameter of its name",
			rawURL: "/feed",
			query:  url.Values{"since": {"q"}},
			wantQuery: []url.Values{
				{"since": {"q"}},
				{"since": {"1"}},
			},
		},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`))
				query := url.Values{}
				for k, vs := range tt.query {
					query[k] = append([]string(nil), vs...)
				}
				st := pollMustOpen(t, mk(pollCase{url: srv.URL + tt.rawURL}), Request{Query: query, Cursor: tt.cursor})
				for _, vs := range query {
					vs[0] = "changed after Open"
				}
				expectPollMessages(t, st, "1||")
				_, err := pollNext(t, st)
				expectPollError(t, err, EndOfStream, "read")
				seen := srv.requests()
				if len(seen) != len(tt.wantQuery) {
					t.Fatalf("server saw %d requests, want %d", len(seen), len(tt.wantQuery))
				}
				for i, want := range tt.wantQuery {
					for k, wv := range want {
						if got := seen[i].query[k]; strings.Join(got, ",") != strings.Join(wv, ",") {
							t.Errorf("request %d: %s=%q, want %q", i, k, got, wv)
						}
					}
				}
			})
		}
	})
}

func TestPolling_decoderPrecedence(t *testing.T) {
	unused := func([]byte) ([]Message, error) { return nil, errors.New("this decoder must not be used") }
	lines := []string{pollLineID("alpha") + "||alpha", pollLineID("beta") + "||beta"}
	tests := []struct {
		name         string
		own, fromReq Decoder
		body         string
		want         []string
	}{
		{"request's decoder", nil, pollLineDecoder, "alpha\nbeta\n", lines},
		{"transport's own decoder first", pollLineDecoder, unused, "alpha\nbeta\n", lines},
		{"DecodeJSON by default", nil, nil, `[{"id":"j","data":1}]`, []string{"j||1"}},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(tt.body))
				st := pollMustOpen(t, mk(pollCase{url: srv.URL, decoder: tt.own}), Request{Decoder: tt.fromReq})
				expectPollMessages(t, st, tt.want...)
				_, err := pollNext(t, st)
				expectPollError(t, err, EndOfStream, "read")
			})
		}
	})
}
