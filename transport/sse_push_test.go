package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmaxmax/go-sse"
)

// pushBound bounds every wait in these tests, so that a bug fails instead of
// hanging.
const pushBound = 10 * time.Second

// pushWithin runs f in a goroutine and fails the test unless it returns
// within pushBound.
func pushWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(pushBound):
		t.Fatalf("%s did not return within %v", what, pushBound)
	}
}

// pushAwait waits for ch to be closed, at most pushBound.
func pushAwait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(pushBound):
		t.Fatalf("gave up waiting for %s after %v", what, pushBound)
	}
}

// pushAll consumes st through Push, collecting every message, and returns
// what it collected and Push's error.
func pushAll(t *testing.T, st Stream) ([]Message, error) {
	t.Helper()
	var msgs []Message
	var err error
	pushWithin(t, "Push", func() {
		err = st.(Pusher).Push(func(m Message) bool {
			msgs = append(msgs, m)
			return true
		})
	})
	return msgs, err
}

// pushNextAll consumes st through Next until it fails, for comparison.
func pushNextAll(t *testing.T, st Stream) ([]Message, error) {
	t.Helper()
	var msgs []Message
	for {
		m, err := nextMsg(t, st)
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}

// pushSameMessages fails the test unless got and want hold the same messages.
func pushSameMessages(t *testing.T, how string, got, want []Message) {
	t.Helper()
	show := func(ms []Message) string {
		var b strings.Builder
		for _, m := range ms {
			b.WriteString("\n\t{ID:" + m.ID + " Event:" + m.Event + " Data:" + string(m.Data) + "}")
		}
		return b.String()
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].ID && got[i].Event == want[i].Event && string(got[i].Data) == string(want[i].Data)
	}
	if !ok {
		t.Fatalf("%s gave%s\nwant%s", how, show(got), show(want))
	}
}

// pushWatch wraps the response bodies of one client. Once armed, it closes
// reading at the start of the next Read, so that the test knows the stream
// is waiting for bytes, and runs afterRead, if set, when that Read has its
// bytes. It records a Read that returns after the test has set closed, which
// Close must make impossible.
type pushWatch struct {
	armed     atomic.Bool
	once      sync.Once
	reading   chan struct{}
	afterRead func()
	closed    atomic.Bool
	late      atomic.Bool
}

func newPushWatch(armed bool) *pushWatch {
	w := &pushWatch{reading: make(chan struct{})}
	w.armed.Store(armed)
	return w
}

func (w *pushWatch) client(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: pushRoundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err == nil {
			resp.Body = pushWatchedBody{resp.Body, w}
		}
		return resp, err
	})}
}

type pushRoundTrip func(*http.Request) (*http.Response, error)

func (f pushRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type pushWatchedBody struct {
	io.ReadCloser
	w *pushWatch
}

func (b pushWatchedBody) Read(p []byte) (int, error) {
	first := false
	if b.w.armed.Load() {
		b.w.once.Do(func() { first = true; close(b.w.reading) })
	}
	n, err := b.ReadCloser.Read(p)
	if first && b.w.afterRead != nil {
		b.w.afterRead()
	}
	if b.w.closed.Load() {
		b.w.late.Store(true)
	}
	return n, err
}

func TestSSE_Push_sameAsNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cursor string
		parts  []string
		want   []Message
		retry  time.Duration
	}{
		{
			name: "fields and line ends",
			parts: []string{
				": welcome\n\n",
				"id: 1\nevent: greet\ndata: hello\ndata: world\n\n",
				"data: no id of its own\n\n",
				"id: 3\r\ndata: crlf\r\n\r\n",
				"event: named\rdata: cr\r\r",
				"data: {\"a\":", "1}\nid: 6\n\n",
				"id: 9\n\n",
				"event: bare\n\n",
				"data: after\n\n",
				"data: unterminated at the end\n",
			},
			want: []Message{
				{ID: "1", Event: "greet", Data: []byte("hello\nworld")},
				{Data: []byte("no id of its own")},
				{ID: "3", Data: []byte("crlf")},
				{Event: "named", Data: []byte("cr")},
				{ID: "6", Data: []byte(`{"a":1}`)},
				{ID: "9", Data: []byte("after")},
			},
		},
		{
			name: "repeated and reset ids",
			parts: []string{
				"id: 1\ndata: a\n\n",
				"id: 1\ndata: same id again\n\n",
				"data: none\n\n",
				"id: 2\ndata: b\n\n",
				"id\ndata: id reset\n\n",
				"id: 2\ndata: b again\n\n",
				"retry: 1500\n\n",
			},
			want: []Message{
				{ID: "1", Data: []byte("a")},
				{Data: []byte("same id again")},
				{Data: []byte("none")},
				{ID: "2", Data: []byte("b")},
				{Data: []byte("id reset")},
				{ID: "2", Data: []byte("b again")},
			},
			retry: 1500 * time.Millisecond,
		},
		{
			name:   "replayed cursor",
			cursor: "7",
			parts:  []string{"id: 7\ndata: seven\n\n", "data: eight\n\n"},
			want:   []Message{{ID: "7", Data: []byte("seven")}, {Data: []byte("eight")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, streamHandler(tc.parts...))
			req := Request{Cursor: tc.cursor}
			pulled, nextErr := pushNextAll(t, openSSE(t, &SSE{URL: srv.URL}, req))
			pushed, pushErr := pushAll(t, openSSE(t, &SSE{URL: srv.URL}, req))
			pushSameMessages(t, "Next", pulled, tc.want)
			pushSameMessages(t, "Push", pushed, tc.want)
			ne := wantErr(t, nextErr, Transient, errSSEServerClosed)
			pe := wantErr(t, pushErr, Transient, errSSEServerClosed)
			if pe.Error() != ne.Error() || pe.RetryAfter != ne.RetryAfter || pe.RetryAfter != tc.retry {
				t.Fatalf("Push ended with %v (retry %v), Next with %v (retry %v); want retry %v",
					pe, pe.RetryAfter, ne, ne.RetryAfter, tc.retry)
			}
		})
	}
}

func TestSSE_Push_tooLarge(t *testing.T) {
	const limit = 1024
	for _, tc := range []struct {
		name  string
		event string
		ok    bool
	}{
		{"at the limit", "data: " + strings.Repeat("a", limit) + "\n\n", true},
		{"data over the limit", "data: " + strings.Repeat("a", limit+1) + "\n\n", false},
		{"event over the parser's bound", "data: " + strings.Repeat("a", 100<<10) + "\n\n", false},
		{"many lines over the limit", strings.Repeat("data: "+strings.Repeat("a", 99)+"\n", 11) + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, streamHandler("data: before\n\n", tc.event, "data: after\n\n"))
			st := openSSE(t, &SSE{URL: srv.URL}, Request{MaxMessageSize: limit})
			msgs, err := pushAll(t, st)
			if tc.ok {
				wantErr(t, err, Transient, errSSEServerClosed)
				if len(msgs) != 3 || len(msgs[1].Data) != limit {
					t.Fatalf("Push gave %d messages, want 3 with %d bytes in the second", len(msgs), limit)
				}
				return
			}
			wantErr(t, err, Transient, ErrMessageTooLarge)
			pushSameMessages(t, "Push", msgs, []Message{{Data: []byte("before")}})
		})
	}
}

func TestSSE_Push_heartbeatStalls(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler("retry: 250\n", "data: first\n\n")(w, r)
		<-r.Context().Done()
	})
	st := openSSE(t, &SSE{URL: srv.URL}, Request{Heartbeat: budget60})
	start := time.Now()
	msgs, err := pushAll(t, st)
	pushSameMessages(t, "Push", msgs, []Message{{Data: []byte("first")}})
	if te := wantErr(t, err, Transient, ErrStalled); te.RetryAfter != 250*time.Millisecond {
		t.Fatalf("error %v: retry %v, want 250ms", err, te.RetryAfter)
	}
	if d := time.Since(start); d < 60*time.Millisecond || d > 2*time.Second {
		t.Fatalf("stalled after %v, want between the 60ms budget and 2s", d)
	}
}

// pushSilentAfter answers with the given parts and then sends nothing more
// until the client goes away; gone, if not nil, is closed then.
func pushSilentAfter(gone chan struct{}, parts ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		streamHandler(parts...)(w, r)
		<-r.Context().Done()
		if gone != nil {
			close(gone)
		}
	}
}

func TestSSE_Push_closeWhileReading(t *testing.T) {
	srv := sseServer(t, pushSilentAfter(nil, "data: 1\n\n"))
	watch := newPushWatch(false)
	st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: watch.client(http.DefaultTransport)})
	var msgs []Message
	errc := make(chan error, 1)
	go func() {
		errc <- st.(Pusher).Push(func(m Message) bool {
			msgs = append(msgs, m)
			watch.armed.Store(true) // the next Read waits on the silent server
			return true
		})
	}()
	pushAwait(t, watch.reading, "Push to wait for bytes")
	pushWithin(t, "Close", func() {
		st.Close()
		watch.closed.Store(true)
	})
	var err error
	select {
	case err = <-errc:
	case <-time.After(pushBound):
		t.Fatal("Push did not return after Close")
	}
	wantErr(t, err, Transient, net.ErrClosed)
	pushSameMessages(t, "Push", msgs, []Message{{Data: []byte("1")}})
	if watch.late.Load() {
		t.Fatal("a body Read returned after Close had returned")
	}
}

func TestSSE_Push_closeDuringRead(t *testing.T) {
	// Close begins while a Read brings the next event: Push must not hand
	// that event over, since Close does not wait for yield.
	send := make(chan struct{})
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler("data: 1\n\n")(w, r)
		select {
		case <-send:
			sseWrite(w, "data: 2\n\n")
		case <-r.Context().Done():
		}
		<-r.Context().Done()
	})
	watch := newPushWatch(false)
	st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: watch.client(http.DefaultTransport)})
	closed := make(chan struct{})
	watch.afterRead = func() {
		go func() {
			st.Close()
			close(closed)
		}()
		deadline := time.Now().Add(pushBound)
		for !st.(*sseStream).closed.Load() && time.Now().Before(deadline) {
			runtime.Gosched() // Close has begun once closed is set
		}
	}
	var msgs []Message
	errc := make(chan error, 1)
	go func() {
		errc <- st.(Pusher).Push(func(m Message) bool {
			msgs = append(msgs, m)
			watch.armed.Store(true)
			return true
		})
	}()
	pushAwait(t, watch.reading, "Push to wait for bytes")
	close(send)
	pushAwait(t, closed, "Close")
	var err error
	select {
	case err = <-errc:
	case <-time.After(pushBound):
		t.Fatal("Push did not return after Close")
	}
	wantErr(t, err, Transient, net.ErrClosed)
	pushSameMessages(t, "Push", msgs, []Message{{Data: []byte("1")}})
}

func TestSSE_Push_closeFromYield(t *testing.T) {
	for _, tc := range []struct {
		name    string
		blocked bool // Close runs elsewhere while yield blocks, else yield calls it
		ret     bool // what yield returns
		want    error
	}{
		{"yield blocked, then continues", true, true, net.ErrClosed},
		{"yield blocked, then stops", true, false, nil},
		{"yield closes, then continues", false, true, net.ErrClosed},
		{"yield closes, then stops", false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two events in one write: the second is likely buffered in the
			// parser when Close comes, and must not be handed over anyway.
			srv := sseServer(t, pushSilentAfter(nil, "data: 1\n\ndata: 2\n\n"))
			st := openSSE(t, &SSE{URL: srv.URL}, Request{})
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			errc := make(chan error, 1)
			go func() {
				errc <- st.(Pusher).Push(func(Message) bool {
					if calls.Add(1) > 1 {
						return tc.ret
					}
					if tc.blocked {
						close(entered)
						<-release
					} else {
						st.Close()
					}
					return tc.ret
				})
			}()
			if tc.blocked {
				pushAwait(t, entered, "the first yield")
				pushWithin(t, "Close while yield blocks", func() { st.Close() })
				close(release)
			}
			var err error
			select {
			case err = <-errc:
			case <-time.After(pushBound):
				t.Fatal("Push did not return after Close")
			}
			if tc.want == nil && err != nil {
				t.Fatalf("Push = %v, want nil as yield stopped it", err)
			}
			if tc.want != nil {
				wantErr(t, err, Transient, tc.want)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("yield called %d times, want once: nothing is handed over after Close", n)
			}
		})
	}
}

func TestSSE_Push_yieldStops(t *testing.T) {
	gone := make(chan struct{})
	srv := sseServer(t, pushSilentAfter(gone, "id: 1\ndata: a\n\n", "id: 2\ndata: b\n\n", "id: 3\ndata: c\n\n"))
	st := openSSE(t, &SSE{URL: srv.URL}, Request{})
	var msgs []Message
	var err error
	pushWithin(t, "Push", func() {
		err = st.(Pusher).Push(func(m Message) bool {
			msgs = append(msgs, m)
			return len(msgs) < 2
		})
	})
	if err != nil {
		t.Fatalf("Push = %v, want nil when yield stops it", err)
	}
	pushSameMessages(t, "Push", msgs, []Message{{ID: "1", Data: []byte("a")}, {ID: "2", Data: []byte("b")}})
	// The stream is finished: its request is cancelled before Close.
	pushAwait(t, gone, "the server to see the request cancelled")
	_, err = nextMsg(t, st)
	wantErr(t, err, Transient, errSSEConsumer)
	err = st.(Pusher).Push(func(Message) bool { t.Error("second Push yielded"); return true })
	wantErr(t, err, Transient, errSSEConsumer)
}

func TestSSE_Push_secondConsumer(t *testing.T) {
	t.Run("Push after Next", func(t *testing.T) {
		srv := sseServer(t, pushSilentAfter(nil, "id: 1\ndata: a\n\n", "id: 2\ndata: b\n\n"))
		st := openSSE(t, &SSE{URL: srv.URL}, Request{})
		wantMsg(t, st, Message{ID: "1", Data: []byte("a")})
		var err error
		pushWithin(t, "Push on a stream read by Next", func() {
			err = st.(Pusher).Push(func(Message) bool { t.Error("Push yielded"); return true })
		})
		wantErr(t, err, Transient, errSSEConsumer)
		wantMsg(t, st, Message{ID: "2", Data: []byte("b")}) // the stream is untouched
	})

	t.Run("Next and Push during Push", func(t *testing.T) {
		srv := sseServer(t, pushSilentAfter(nil, "data: 1\n\n"))
		watch := newPushWatch(false)
		st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: watch.client(http.DefaultTransport)})
		errc := make(chan error, 1)
		go func() {
			errc <- st.(Pusher).Push(func(Message) bool {
				watch.armed.Store(true)
				return true
			})
		}()
		pushAwait(t, watch.reading, "Push to wait for bytes")
		// Both fail at once, while the first Push is waiting for bytes.
		var nextErr, pushErr error
		pushWithin(t, "Next during Push", func() { _, nextErr = st.Next(context.Background()) })
		pushWithin(t, "Push during Push", func() {
			pushErr = st.(Pusher).Push(func(Message) bool { t.Error("second Push yielded"); return true })
		})
		wantErr(t, nextErr, Transient, errSSEConsumer)
		wantErr(t, pushErr, Transient, errSSEConsumer)
		if errors.Is(nextErr, net.ErrClosed) || nextErr.Error() == pushErr.Error() {
			t.Fatalf("errors do not say what was misused: %v / %v", nextErr, pushErr)
		}
		select {
		case err := <-errc:
			t.Fatalf("the first Push ended early: %v", err)
		default:
		}
		st.Close()
		select {
		case err := <-errc:
			wantErr(t, err, Transient, net.ErrClosed)
		case <-time.After(pushBound):
			t.Fatal("Push did not return after Close")
		}
	})
}

// pushSettledGoroutines returns runtime.NumGoroutine once it has stayed the
// same over many scheduler rounds, so that a goroutine on its way in or out
// (a dialer handing its connection over, say) does not blur the count.
func pushSettledGoroutines(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(pushBound)
	n, same := runtime.NumGoroutine(), 0
	for same < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("the goroutine count did not settle within %v", pushBound)
		}
		runtime.Gosched()
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

func TestSSE_Push_savesAGoroutine(t *testing.T) {
	const streams = 20
	srv := sseServer(t, pushSilentAfter(nil))
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	var consumers sync.WaitGroup
	t.Cleanup(func() { pushWithin(t, "the consumers", consumers.Wait) }) // after the streams' Close

	// open starts idle streams, each read by a goroutine of its own through
	// consume, and returns once every one of them is waiting for bytes.
	open := func(consume func(Stream)) {
		for range streams {
			watch := newPushWatch(true)
			st := openSSE(t, &SSE{URL: srv.URL}, Request{HTTPClient: watch.client(base)})
			consumers.Add(1)
			go func() {
				defer consumers.Done()
				consume(st)
			}()
			pushAwait(t, watch.reading, "a consumer to wait for bytes")
		}
	}
	before := pushSettledGoroutines(t)
	open(func(st Stream) { st.(Pusher).Push(func(Message) bool { return true }) })
	afterPush := pushSettledGoroutines(t)
	open(func(st Stream) { st.Next(t.Context()) })
	afterNext := pushSettledGoroutines(t)

	push, next := afterPush-before, afterNext-afterPush
	t.Logf("%d idle streams add %d goroutines when read by Push, %d when read by Next", streams, push, next)
	// One fewer per stream; the tolerance absorbs stray goroutines of the
	// runtime or of other connections, never a whole coroutine per stream.
	if extra := next - push; extra < streams/2 || extra > streams*3/2 {
		t.Fatalf("Next costs %d goroutines more than Push over %d streams, want about %d",
			extra, streams, streams)
	}
}

// pushBoth reads the stream that open returns to its end through Next, then
// a second one through Push, and checks that both give want and end alike
// with a transient error matching end.
func pushBoth(t *testing.T, open func() Stream, want []Message, end error) {
	t.Helper()
	pulled, nextErr := pushNextAll(t, open())
	pushed, pushErr := pushAll(t, open())
	pushSameMessages(t, "Next", pulled, want)
	pushSameMessages(t, "Push", pushed, want)
	ne := wantErr(t, nextErr, Transient, end)
	pe := wantErr(t, pushErr, Transient, end)
	if pe.Error() != ne.Error() {
		t.Fatalf("Push ended with %v, Next with %v", pe, ne)
	}
}

func TestSSE_decoder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string
		want  []Message
	}{
		{
			name: "several messages from one event",
			parts: []string{
				"event: tick\ndata: [{\"id\":\"a\",\"data\":1},{\"id\":\"b\",\"event\":\"own\",\"data\":2},{\"data\":3}]\n\n",
				"data: {\"id\":\"c\",\"data\":4}\n\n",
			},
			want: []Message{
				{ID: "a", Event: "tick", Data: []byte("1")},
				{ID: "b", Event: "own", Data: []byte("2")},
				{Event: "tick", Data: []byte("3")},
				{ID: "c", Data: []byte("4")},
			},
		},
		{
			name: "events with an id line are left alone",
			parts: []string{
				"id: 5\ndata: {\"id\":\"z\",\"data\":3}\n\n",
				"data: {\"id\":\"y\",\"data\":4}\n\n", // no id line: decoded
				"id: 6\nevent: e\ndata: [{\"id\":\"x\"}]\n\n",
			},
			want: []Message{
				{ID: "5", Data: []byte(`{"id":"z","data":3}`)},
				{ID: "y", Data: []byte("4")},
				{ID: "6", Event: "e", Data: []byte(`[{"id":"x"}]`)},
			},
		},
		{
			name: "an event carrying the id of a block without data is left alone",
			parts: []string{
				"id: 7\n\n", // no data: nothing delivered, the id goes with the next event
				"data: {\"id\":\"w\",\"data\":5}\n\n",
				"data: {\"id\":\"v\",\"data\":6}\n\n",
			},
			want: []Message{
				{ID: "7", Data: []byte(`{"id":"w","data":5}`)},
				{ID: "v", Data: []byte("6")},
			},
		},
		{
			name: "undecodable events are delivered as they came",
			parts: []string{
				"event: note\ndata: not json\n\n",
				"event: empty\ndata: []\n\n",
				"data: {\"id\":\"ok\",\"data\":true}\n\n",
				"data: [{\"id\":{\"bad\":1}}]\n\n",
			},
			want: []Message{
				{Event: "note", Data: []byte("not json")},
				{Event: "empty", Data: []byte("[]")},
				{ID: "ok", Data: []byte("true")},
				{Data: []byte(`[{"id":{"bad":1}}]`)},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sseServer(t, streamHandler(tc.parts...))
			open := func() Stream { return openSSE(t, &SSE{URL: srv.URL}, Request{Decoder: DecodeJSON}) }
			pushBoth(t, open, tc.want, errSSEServerClosed)
		})
	}
}

func TestSSE_decoder_tooLarge(t *testing.T) {
	// A decoder may find more than the event held: each of its messages is
	// held to the limit, and those before the first one over it are
	// delivered.
	grow := func(b []byte) ([]Message, error) {
		return []Message{{ID: "small", Data: []byte("ok")}, {ID: "big", Data: bytes.Repeat(b, 3)}}, nil
	}
	srv := sseServer(t, streamHandler("data: 0123456789\n\n", "data: after\n\n"))
	open := func() Stream { return openSSE(t, &SSE{URL: srv.URL}, Request{Decoder: grow, MaxMessageSize: 16}) }
	pushBoth(t, open, []Message{{ID: "small", Data: []byte("ok")}}, ErrMessageTooLarge)
}

func TestSSE_decoder_closeWithMessagesLeft(t *testing.T) {
	srv := sseServer(t, pushSilentAfter(nil, "data: [{\"id\":\"1\"},{\"id\":\"2\"}]\n\n"))
	t.Run("Next", func(t *testing.T) {
		st := openSSE(t, &SSE{URL: srv.URL}, Request{Decoder: DecodeJSON})
		wantMsg(t, st, Message{ID: "1"})
		st.Close()
		_, err := nextMsg(t, st)
		wantErr(t, err, Transient, net.ErrClosed)
	})
	t.Run("Push", func(t *testing.T) {
		st := openSSE(t, &SSE{URL: srv.URL}, Request{Decoder: DecodeJSON})
		var msgs []Message
		var err error
		pushWithin(t, "Push", func() {
			err = st.(Pusher).Push(func(m Message) bool {
				msgs = append(msgs, m)
				st.Close()
				return true
			})
		})
		wantErr(t, err, Transient, net.ErrClosed)
		pushSameMessages(t, "Push", msgs, []Message{{ID: "1"}})
	})
}

func TestSSE_messages_allocs(t *testing.T) {
	// Without a decoder, an event costs its Data and nothing more: Push is
	// the hot path.
	s := &sseStream{max: DefaultMaxMessageSize}
	ev := sse.Event{Type: "tick", Data: "payload"}
	if n := testing.AllocsPerRun(100, func() {
		msgs, err := s.messages(ev)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("messages = %v, %v", msgs, err)
		}
	}); n > 1 {
		t.Fatalf("%v allocations per event, want at most 1", n)
	}
}
