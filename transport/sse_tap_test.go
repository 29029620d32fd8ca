package transport

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var retryScannerCases = []struct {
	name string
	in   string
	want int64 // milliseconds; -1 for no hint
}{
	{"empty", "", -1},
	{"with space", "retry: 2500\n", 2500},
	{"without space", "retry:2500\n", 2500},
	{"CR", "retry: 7\r", 7},
	{"CRLF", "retry: 7\r\n", 7},
	{"last wins", "retry: 1\nretry: 2\n\nretry: 3\n", 3},
	{"invalid keeps previous", "retry: 5\nretry: 6x\n", 5},
	{"unterminated line ignored", "retry: 5\nretry: 6", 5},
	{"two spaces", "retry:  5\n", -1},
	{"empty value", "retry:\nretry: \nretry\n", -1},
	{"negative", "retry: -5\n", -1},
	{"plus sign", "retry: +5\n", -1},
	{"trailing space", "retry: 5 \n", -1},
	{"upper case name", "Retry: 5\n", -1},
	{"longer name", "retryx: 5\nretries: 6\n", -1},
	{"shorter name", "retr: 5\n", -1},
	{"leading space", " retry: 5\n", -1},
	{"comment", ": retry: 5\n", -1},
	{"inside data", "data: retry: 5\n", -1},
	{"leading zeros", "retry: 0007\n", 7},
	{"zero", "retry: 0\n", 0},
	{"capped", "retry: 99999999999999999999999\n", sseMaxRetry},
	{"byte order mark", sseBOM + "retry: 9\n", 9},
	{"second byte order mark", sseBOM + sseBOM + "retry: 9\n", -1},
	{"partial byte order mark", "\xEF\xBBretry: 9\n", -1},
	{"partial byte order mark line", "\xEF\nretry: 9\n", 9},
	{"among events", "id: 1\ndata: a\n\nretry: 300\n: ping\ndata: b\n\n", 300},
}

// refRetry is a deliberately plain reading of the retry rules over the whole
// input at once, against which the streaming scanner is checked.
func refRetry(in []byte) int64 {
	in = bytes.TrimPrefix(in, []byte(sseBOM))
	hint := int64(-1)
	for {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			return hint // an unterminated last line does not count
		}
		line := in[:i]
		in = in[i+1:]
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			name, value = line, nil
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(name) != "retry" || len(value) == 0 || bytes.ContainsFunc(value, func(r rune) bool {
			return r < '0' || r > '9'
		}) {
			continue
		}
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n > sseMaxRetry {
			n = sseMaxRetry
		}
		hint = n
	}
}

// scanChunks feeds in to a fresh scanner in chunks whose sizes cycle through
// sizes (each at least one byte), and returns the hint, -1 for none.
func scanChunks(in []byte, sizes []byte) int64 {
	var s sseFieldScanner
	for i := 0; len(in) > 0; i++ {
		n := len(in)
		if len(sizes) > 0 {
			n = min(n, int(sizes[i%len(sizes)])%16+1)
		}
		s.scan(in[:n])
		in = in[n:]
	}
	d, ok := s.latest()
	if !ok {
		return -1
	}
	return int64(d / time.Millisecond)
}

func TestSSERetryScanner(t *testing.T) {
	chunkings := []struct {
		name  string
		sizes []byte
	}{
		{"whole", nil},
		{"bytewise", []byte{0}},
		{"uneven", []byte{2, 0, 4, 1}},
	}
	for _, tc := range retryScannerCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refRetry([]byte(tc.in)); got != tc.want {
				t.Fatalf("reference: got %d, want %d", got, tc.want)
			}
			for _, c := range chunkings {
				if got := scanChunks([]byte(tc.in), c.sizes); got != tc.want {
					t.Errorf("%s: got %d, want %d", c.name, got, tc.want)
				}
			}
		})
	}
}

func TestSSERetryScanner_noAllocs(t *testing.T) {
	chunk := []byte("data: some payload\r\nretry: 1200\n: comment\n\n")
	var s sseFieldScanner
	if n := testing.AllocsPerRun(100, func() { s.scan(chunk) }); n != 0 {
		t.Fatalf("scan allocates %v times per chunk", n)
	}
}

func FuzzRetryScanner(f *testing.F) {
	for _, tc := range retryScannerCases {
		f.Add([]byte(tc.in), []byte{3, 1})
	}
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		want := refRetry(in)
		if got := scanChunks(in, sizes); got != want {
			t.Fatalf("chunked by %v: got %d, reference %d", sizes, got, want)
		}
		if got := scanChunks(in, nil); got != want {
			t.Fatalf("whole: got %d, reference %d", got, want)
		}
	})
}

// sseScannerBlocks are streams with the blocks go-sse dispatches (those with
// a data or event field, or an id without U+0000) and, among them, the
// numbers of those without a data field, which the stream drops.
var sseScannerBlocks = []struct {
	name   string
	in     string
	blocks uint64
	noData []uint64
}{
	{"data only", "data: a\n\ndata\n\ndata:\n\n", 3, nil},
	{"id only", "id: 1\n\ndata: a\n\nid\n\n", 3, []uint64{1, 3}},
	{"event only", "event: e\n\nevent\ndata\n\n", 2, []uint64{1}},
	{"id with U+0000", "id: a\x00b\n\nid:\x00\n\nid: ok\n\n", 1, []uint64{1}},
	{"not dispatched", "retry: 1\n\n: c\n\nfoo: bar\n\nDATA: x\n\ndata : x\n\n", 0, nil},
	{"CRLF is one line end", "id: 1\r\ndata: a\r\n\r\nevent: e\r\n\r\n", 2, []uint64{2}},
	{"CR alone", "event: e\r\rdata: x\r\r", 2, []uint64{1}},
	{"unterminated block", "data: a\n\nid: 2\n", 1, nil},
	{"byte order mark", sseBOM + "id: 1\n\n", 1, []uint64{1}},
	{"second byte order mark", sseBOM + sseBOM + "id: 1\n\nid: 2\n\n", 1, []uint64{1}},
	{"mark after a blank line", "\n" + sseBOM + "data: x\n\n", 0, nil},
	{"partial mark", "\xEF\xBBdata: x\n\n\xEF\n\ndata: y\n\n", 1, nil},
}

func TestSSEFieldScanner_blocks(t *testing.T) {
	for _, tc := range sseScannerBlocks {
		t.Run(tc.name, func(t *testing.T) {
			for _, sizes := range [][]byte{nil, {0}, {2, 0, 4, 1}} {
				var s sseFieldScanner
				in := []byte(tc.in)
				for i := 0; len(in) > 0; i++ {
					n := len(in)
					if len(sizes) > 0 {
						n = min(n, int(sizes[i%len(sizes)])%16+1)
					}
					s.scan(in[:n])
					in = in[n:]
				}
				var noData []uint64
				for n := uint64(1); n <= s.blocks; n++ {
					if s.dataless(n) {
						noData = append(noData, n)
					}
				}
				if s.blocks != tc.blocks || !slices.Equal(noData, tc.noData) {
					t.Fatalf("chunked by %v: %d blocks, %v without data; want %d, %v",
						sizes, s.blocks, noData, tc.blocks, tc.noData)
				}
			}
		})
	}
}

func TestSSETap_leadingLineEnd(t *testing.T) {
	// A body that starts with a line end reaches the parser after a colon,
	// whatever the size of the parser's reads; other bodies are untouched.
	for _, tc := range []struct{ body, want string }{
		{"\n" + sseBOM + "data: 1\n\n", ":\n" + sseBOM + "data: 1\n\n"},
		{"\r\ndata: 1\n\n", ":\r\ndata: 1\n\n"},
		{"\r", ":\r"},
		{sseBOM + "data: 1\n\n", sseBOM + "data: 1\n\n"},
		{"data: 1\n\n", "data: 1\n\n"},
		{"", ""},
	} {
		for _, size := range []int{1, 2, 3, 4096} {
			tap := newSSETap(strings.NewReader(tc.body), Heartbeat{}, func() {})
			var got []byte
			buf := make([]byte, size)
			for {
				n, err := tap.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%q by %d: %v", tc.body, size, err)
				}
			}
			if string(got) != tc.want {
				t.Fatalf("%q read by %d bytes gave %q, want %q", tc.body, size, got, tc.want)
			}
		}
	}
}

// tapOverPipe returns a tap over a pipe into which write, if not nil, writes
// from its own goroutine. A stall closes the pipe, as cancelling a request
// would. The cleanup ends the pipe and waits for write to return, so that a
// failed test leaves no goroutine in its bubble.
func tapOverPipe(t *testing.T, hb Heartbeat, write func(*io.PipeWriter)) *sseTap {
	t.Helper()
	pr, pw := io.Pipe()
	tap := newSSETap(pr, hb, func() { pr.CloseWithError(errors.New("killed")) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		if write != nil {
			write(pw)
		}
	}()
	t.Cleanup(func() {
		tap.halt()
		pr.Close()
		<-done
		pw.Close()
	})
	return tap
}

// budget60 is a heartbeat with an idle budget of 60ms.
var budget60 = Heartbeat{Interval: 30 * time.Millisecond, Timeout: 30 * time.Millisecond}

func TestSSETap_stallsWhenSilentWhileReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tap := tapOverPipe(t, budget60, nil)
		start := time.Now()
		_, err := tap.Read(make([]byte, 16))
		if err == nil || !tap.stalled.Load() {
			t.Fatalf("Read = %v, stalled %v; want a stall", err, tap.stalled.Load())
		}
		if d := time.Since(start); d != 60*time.Millisecond {
			t.Fatalf("stalled after %v, want 60ms", d)
		}
		if _, err := tap.Read(make([]byte, 16)); !errors.Is(err, ErrStalled) {
			t.Fatalf("Read after stall = %v, want ErrStalled", err)
		}
	})
}

func TestSSETap_anyByteIsLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tap := tapOverPipe(t, budget60, func(pw *io.PipeWriter) {
			for range 20 { // a byte every 50ms for a second: never 60ms of silence
				time.Sleep(50 * time.Millisecond)
				if _, err := pw.Write([]byte(":")); err != nil {
					return
				}
			}
			pw.Close()
		})
		_, err := io.Copy(io.Discard, tap)
		if err != nil || tap.stalled.Load() {
			t.Fatalf("copy = %v, stalled %v; want neither", err, tap.stalled.Load())
		}
	})
}

func TestSSETap_notReadingDoesNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tap := tapOverPipe(t, budget60, func(pw *io.PipeWriter) {
			if _, err := pw.Write([]byte("data: 1\n\n")); err != nil {
				return
			}
			time.Sleep(time.Second) // the reader is away for most of this
			pw.Write([]byte("data: 2\n\n"))
		})
		buf := make([]byte, 64)
		if _, err := tap.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(950 * time.Millisecond) // not reading: must not count
		if _, err := tap.Read(buf); err != nil || tap.stalled.Load() {
			t.Fatalf("Read = %v, stalled %v; want data", err, tap.stalled.Load())
		}
	})
}

func TestSSETap_disabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tap := tapOverPipe(t, Heartbeat{Interval: time.Millisecond}, func(pw *io.PipeWriter) {
			time.Sleep(time.Hour)
			pw.Write([]byte("retry: 10\n"))
			pw.Close()
		})
		if _, err := io.Copy(io.Discard, tap); err != nil || tap.stalled.Load() {
			t.Fatalf("copy = %v, stalled %v; want neither", err, tap.stalled.Load())
		}
		if d, ok := tap.fields.latest(); !ok || d != 10*time.Millisecond {
			t.Fatalf("retry hint = %v, %v; want 10ms", d, ok)
		}
	})
}

// The liveness tests below run over loopback HTTP, through Open and Next.

func TestSSE_Heartbeat_commentsKeepAlive(t *testing.T) {
	const alive = 5 * 60 * time.Millisecond
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler()(w, r)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.After(alive)
		for {
			select {
			case <-tick.C:
				sseWrite(w, ": ping\n")
			case <-end:
				sseWrite(w, "data: still here\n\n")
				<-r.Context().Done()
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	st := openSSE(t, &SSE{URL: srv.URL}, Request{Heartbeat: budget60})
	wantMsg(t, st, Message{Data: []byte("still here")})
}

func TestSSE_Heartbeat_silenceStalls(t *testing.T) {
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHandler("data: first\n\n")(w, r)
		<-r.Context().Done()
	})
	st := openSSE(t, &SSE{URL: srv.URL}, Request{Heartbeat: budget60})
	wantMsg(t, st, Message{Data: []byte("first")})
	start := time.Now()
	_, err := nextMsg(t, st)
	wantErr(t, err, Transient, ErrStalled)
	if d := time.Since(start); d < 60*time.Millisecond || d > 2*time.Second {
		t.Fatalf("stalled after %v, want between the 60ms budget and 2s", d)
	}
}

func TestSSE_Heartbeat_backPressureDoesNotCount(t *testing.T) {
	resume := make(chan struct{})
	srv := sseServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Two events queued at once, then silence while the test is away.
		streamHandler("data: 1\n\ndata: 2\n\n")(w, r)
		select {
		case <-resume:
			sseWrite(w, "data: 3\n\n")
		case <-r.Context().Done():
			return
		}
		<-r.Context().Done()
	})
	st := openSSE(t, &SSE{URL: srv.URL}, Request{Heartbeat: budget60})
	wantMsg(t, st, Message{Data: []byte("1")})
	// Not calling Next for five budgets: were the idle timer running now, it
	// would cancel the request and the third event could not arrive.
	<-time.After(5 * 60 * time.Millisecond)
	close(resume)
	wantMsg(t, st, Message{Data: []byte("2")})
	wantMsg(t, st, Message{Data: []byte("3")})
}
