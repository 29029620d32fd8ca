package main

// Tests of the built command: each runs the binary, as a script would, and
// waits on the lines it prints and on the test server's counters, never on
// the clock.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/internal/testserver"
)

// binaryTimeout bounds one run of the binary; a run still going then is
// killed and the test fails.
const binaryTimeout = 60 * time.Second

var (
	buildOnce sync.Once
	binDir    string // holds the built command; removed by TestMain
	binPath   string
	buildErr  error
)

// binary builds the command once per test process (with the race detector
// when the tests have it) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "subscribe-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "subscribe")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lineLog collects what the binary writes to one of its outputs, line by
// line, and wakes those waiting for a line.
type lineLog struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   []string
	changed chan struct{} // closed, and replaced, on every new line
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	grew := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		grew = true
	}
	if grew {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// count returns how many lines match, and a channel closed at the next line.
func (l *lineLog) count(match func(string) bool) (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if match(s) {
			n++
		}
	}
	return n, l.changed
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// proc is one run of the binary.
type proc struct {
	t      *testing.T
	args   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless asked for
	stdout *lineLog
	stderr *lineLog
	exited chan struct{}
	killed atomic.Bool // the run outlived binaryTimeout
}

// startBinary starts the binary with args; withStdin gives it a pipe as
// stdin (otherwise it reads the null device).
func startBinary(t *testing.T, withStdin bool, args ...string) *proc {
	t.Helper()
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), binaryTimeout)
	p := &proc{t: t, args: args, stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Cancel = func() error {
		p.killed.Store(true)
		return p.cmd.Process.Kill()
	}
	p.cmd.WaitDelay = 5 * time.Second
	if raceEnabled {
		// A race-enabled binary sleeps a second at exit by default, for
		// racing goroutines to be reported; a tenth of it does here.
		gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=100")
		p.cmd.Env = append(os.Environ(), "GORACE="+gorace)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if withStdin {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		p.stdin = w
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		defer cancel()
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.stdin != nil {
			_ = p.stdin.Close()
		}
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits for the binary to exit and returns its exit status. A run that
// had to be killed, or that reports a data race, fails the test.
func (p *proc) wait() int {
	p.t.Helper()
	<-p.exited
	if p.killed.Load() {
		p.t.Fatalf("%q did not end within %s; stderr:\n%s", p.args, binaryTimeout, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "DATA RACE") {
		p.t.Fatalf("%q has a data race:\n%s", p.args, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitLines waits until n lines of log match; it fails the test if the
// binary exits, or 30 s pass, first.
func (p *proc) waitLines(log *lineLog, n int, match func(string) bool) {
	p.t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		got, changed := log.count(match)
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-p.exited:
			if got, _ := log.count(match); got >= n {
				return
			}
			p.t.Fatalf("%q exited with %d matching lines, want %d; stdout:\n%s\nstderr:\n%s", p.args, got, n, p.stdout, p.stderr)
		case <-timeout.C:
			p.t.Fatalf("%q: %d matching lines after 30s, want %d; stdout:\n%s\nstderr:\n%s", p.args, got, n, p.stdout, p.stderr)
		}
	}
}

// runBinary runs the binary to its end.
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startBinary(t, false, args...)
	code = p.wait()
	return code, p.stdout.String(), p.stderr.String()
}

// waitCtx is the bound of a wait on a server.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// outLine is a -json message line.
type outLine struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Transport string          `json:"transport"`
	Key       string          `json:"key"` // only with -key
}

// parseMessages parses -json stdout strictly.
func parseMessages(t *testing.T, stdout string) []outLine {
	t.Helper()
	var out []outLine
	for l := range strings.Lines(stdout) {
		var m outLine
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// stateLine is a -json stderr line.
type stateLine struct {
	State     string `json:"state"`
	Transport string `json:"transport"`
	Error     string `json:"error"`
	Time      string `json:"time"`
}

func parseState(line string) (stateLine, bool) {
	var s stateLine
	if json.Unmarshal([]byte(line), &s) != nil || s.State == "" {
		return s, false
	}
	return s, true
}

func hasState(state, transport string) func(string) bool {
	return func(line string) bool {
		s, ok := parseState(line)
		return ok && s.State == state && (transport == "" || s.Transport == transport)
	}
}

func contains(sub string) func(string) bool {
	return func(line string) bool { return strings.Contains(line, sub) }
}

// wantMessages compares -json stdout with want, given as id, event, data,
// transport quadruples.
func wantMessages(t *testing.T, stdout string, want ...outLine) {
	t.Helper()
	got := parseMessages(t, stdout)
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d:\n%s", len(got), len(want), stdout)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Event != w.Event || g.Transport != w.Transport || !jsonEqual(g.Data, w.Data) {
			t.Errorf("message %d = %s %q %s %s, want %s %q %s %s", i, g.ID, g.Event, g.Data, g.Transport, w.ID, w.Event, w.Data, w.Transport)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func msg(id, event, data, tr string) outLine {
	return outLine{ID: id, Event: event, Data: json.RawMessage(data), Transport: tr}
}

// wsURL turns an httptest URL into a WebSocket one.
func wsURL(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

// newWSServer serves WebSockets with handle, one call per connection. The
// ctx given to handle ends when the test does, which also cuts the
// connection.
func newWSServer(t *testing.T, handle func(ctx context.Context, c *websocket.Conn, r *http.Request)) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		stop := context.AfterFunc(ctx, func() { _ = c.CloseNow() })
		defer stop()
		handle(ctx, c, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(cancel) // first: the handlers end, then the server closes
	return srv
}

func writeText(ctx context.Context, c *websocket.Conn, s string) error {
	return c.Write(ctx, websocket.MessageText, []byte(s))
}

// drain reads c until the connection ends.
func drain(ctx context.Context, c *websocket.Conn) {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
	}
}

func TestBinary_existingFlagsUnchanged(t *testing.T) {
	srv := newServer(t)
	srv.Publish("price", []byte(`{"p": 1}`))
	srv.Publish("note", []byte(`plain text`))
	srv.Publish("tick", []byte(`0`))

	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-ws", srv.WebSocketURL(), "-sse", srv.SSEURL(), "-heartbeat", "1s")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("1", "price", `{"p":1}`, "websocket"),
		msg("2", "note", `"plain text"`, "websocket"),
		msg("3", "tick", `0`, "websocket"))
	var states []string
	for l := range strings.Lines(stderr) {
		s, ok := parseState(l)
		if !ok {
			t.Fatalf("stderr line %q is not a state", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Time); err != nil {
			t.Errorf("state time %q: %v", s.Time, err)
		}
		states = append(states, s.State+" "+s.Transport)
	}
	if len(states) < 2 || states[0] != "connecting websocket" || states[1] != "connected websocket" {
		t.Fatalf("states %q", states)
	}

	// Text mode, resuming after -since, over polling.
	code, stdout, stderr = runBinary(t, "-n", "1", "-since", "2", "-poll", srv.PollURL(), "-poll-interval", "10ms")
	if code != 0 || stdout != "poll      id=3 event=tick 0\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} anysub: connected poll$`).MatchString(stderr) {
		t.Fatalf("stderr:\n%s", stderr)
	}

	// A server that ends the stream: exit 0 with a note.
	srv.Disable(testserver.PathSSE, 204)
	code, _, stderr = runBinary(t, "-sse", srv.SSEURL())
	if code != 0 || !strings.Contains(stderr, "subscribe: the server ended the stream") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
}

func TestBinary_badFlagsExitTwo(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	const u = "http://127.0.0.1:1/sse"
	for _, args := range [][]string{
		{"-nope"},
		{"-backoff", "quadratic", "-sse", u},
		{"-id-field", "a..b", "-sse", u},
		{"-event-field", ".e", "-sse", u},
		{"-data-field", "d.", "-sse", u},
		{"-app-pong-field", "r..x", "-ws", u},
		{"-max-attempts", "-1", "-sse", u},
		{"-send-url", "ftp://127.0.0.1/x", "-sse", u},
		{"-cacert", filepath.Join(dir, "missing.pem"), "-sse", u},
		{"-cacert", notPEM, "-sse", u},
	} {
		code, stdout, stderr := runBinary(t, args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// fieldsFrames is what the server of the field tests sends: the id, event
// and data of each message live in fields of its own protocol.
var fieldsFrames = []string{
	`{"meta":{"seq":5,"kind":"trade"},"payload":{"p":1}}`,
	`[{"meta":{"seq":6,"kind":"quote"},"payload":"x"},{"meta":{"seq":7},"payload":[1,2]}]`,
}

func TestBinary_fieldFlagsOnWebSocket(t *testing.T) {
	srv := newWSServer(t, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		for _, f := range fieldsFrames {
			if writeText(ctx, c, f) != nil {
				return
			}
		}
		drain(ctx, c)
	})
	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-ws", wsURL(srv.URL),
		"-id-field", "meta.seq", "-event-field", "meta.kind", "-data-field", "payload")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("5", "trade", `{"p":1}`, "websocket"),
		msg("6", "quote", `"x"`, "websocket"),
		msg("7", "", `[1,2]`, "websocket"))
}

func TestBinary_idFieldAloneMakesTheWholeMessageTheData(t *testing.T) {
	var conns atomic.Int32
	srv := newWSServer(t, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		if conns.Add(1) == 1 {
			// Two messages, then a dropped connection: the next one
			// resumes after u=2, and a repeat of it is dropped.
			_ = writeText(ctx, c, `{"u":1,"px":10.5,"event":"ignored"}`)
			_ = writeText(ctx, c, `{"u":2,"px":11}`)
			_ = c.Close(websocket.StatusGoingAway, "bye")
			return
		}
		if r.URL.Query().Get("since") != "2" {
			_ = c.Close(websocket.StatusPolicyViolation, "bad cursor "+r.URL.RawQuery)
			return
		}
		_ = writeText(ctx, c, `{"u":2,"px":11}`)
		_ = writeText(ctx, c, `{"u":3,"px":12}`)
		drain(ctx, c)
	})
	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-ws", wsURL(srv.URL), "-id-field", "u",
		"-event-field", "none", "-backoff-min", "10ms", "-backoff-max", "20ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("1", "", `{"u":1,"px":10.5,"event":"ignored"}`, "websocket"),
		msg("2", "", `{"u":2,"px":11}`, "websocket"),
		msg("3", "", `{"u":3,"px":12}`, "websocket"))

	// With -id-field alone, the event is still read at "event".
	srv2 := newWSServer(t, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		_ = writeText(ctx, c, `{"u":"a","event":"e","data":"not the data"}`)
		drain(ctx, c)
	})
	code, stdout, stderr = runBinary(t, "-n", "1", "-ws", wsURL(srv2.URL), "-id-field", "u")
	if want := `websocket id=a event=e {"u":"a","event":"e","data":"not the data"}` + "\n"; code != 0 || stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
}

func TestBinary_fieldFlagsOnSSEEventsWithoutID(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		// An event without id: its data is read through the field paths.
		// One with an id line keeps SSE's own id, event and data.
		fmt.Fprint(w, "data: {\"u\":\"a1\",\"kind\":\"k\",\"px\":1}\n\n")
		fmt.Fprint(w, "id: 10\nevent: tick\ndata: {\"u\":\"zz\"}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)

	code, stdout, stderr := runBinary(t, "-json", "-n", "2", "-sse", srv.URL, "-id-field", "u", "-event-field", "kind")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("a1", "k", `{"u":"a1","kind":"k","px":1}`, "sse"),
		msg("10", "tick", `{"u":"zz"}`, "sse"))
}

func TestBinary_fieldFlagsOnPollingAndCursorParam(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("after") == "5" {
			fmt.Fprint(w, `[{"k":"6","body":{"v":6},"event":"x"},{"k":7,"body":"seven","ev":{"n":"y"}}]`)
			return
		}
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(srv.Close)

	for _, tr := range []string{"poll", "longpoll"} {
		mu.Lock()
		queries = nil
		mu.Unlock()
		code, stdout, stderr := runBinary(t, "-json", "-n", "2", "-"+tr, srv.URL, "-poll-interval", "10ms",
			"-since", "5", "-cursor-param", "after", "-id-field", "k", "-event-field", "ev.n", "-data-field", "body")
		if code != 0 {
			t.Fatalf("%s: exit %d; stderr:\n%s", tr, code, stderr)
		}
		wantMessages(t, stdout, msg("6", "", `{"v":6}`, tr), msg("7", "y", `"seven"`, tr))
		mu.Lock()
		if len(queries) == 0 || queries[0] != "after=5" {
			t.Errorf("%s: queries %q, want after=5 first (and no since)", tr, queries)
		}
		mu.Unlock()
	}
}

func TestBinary_onConnectFramesCarryTheCursorAcrossAReconnect(t *testing.T) {
	var mu sync.Mutex
	var hellos [][]string // the first two frames of each connection
	var conns atomic.Int32
	srv := newWSServer(t, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		n := conns.Add(1)
		var got []string
		for range 2 {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			got = append(got, string(b))
		}
		mu.Lock()
		hellos = append(hellos, got)
		mu.Unlock()
		if got[0] != `{"op":"login","user":"me"}` {
			_ = c.Close(websocket.StatusPolicyViolation, "log in first")
			return
		}
		if n == 1 {
			_ = writeText(ctx, c, `{"id":"1","data":1}`)
			_ = writeText(ctx, c, `{"id":"2","data":2}`)
			_ = c.Close(websocket.StatusGoingAway, "restarting")
			return
		}
		_ = writeText(ctx, c, `{"id":"3","data":3}`)
		drain(ctx, c)
	})
	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-ws", wsURL(srv.URL),
		"-on-connect", `{"op":"login","user":"me"}`,
		"-on-connect", `{"op":"subscribe","since":"{{cursor}}","again":"{{cursor}}"}`,
		"-backoff-min", "10ms", "-backoff-max", "20ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout, msg("1", "", `1`, "websocket"), msg("2", "", `2`, "websocket"), msg("3", "", `3`, "websocket"))
	mu.Lock()
	defer mu.Unlock()
	want := [][]string{
		{`{"op":"login","user":"me"}`, `{"op":"subscribe","since":"","again":""}`},
		{`{"op":"login","user":"me"}`, `{"op":"subscribe","since":"2","again":"2"}`},
	}
	if !slices.EqualFunc(hellos, want, slices.Equal) {
		t.Fatalf("frames on connect %q, want %q", hellos, want)
	}
}

// pingServer plays a server with application pings: each connection gets
// the message of msgs[n] at once (n counting connections from 0), and
// msgsAfterPings[n] once it has received two pings; with answer, every ping
// {"op":"ping","reqid":N} is answered {"reqid":N,"result":true}. A client
// that does not ping within 3 s is dropped.
type pingServer struct {
	answer         bool
	msgs           []string
	msgsAfterPings []string

	mu    sync.Mutex
	pings [][]string // the frames each connection received
	conns int
}

func (ps *pingServer) handle(ctx context.Context, c *websocket.Conn, _ *http.Request) {
	ps.mu.Lock()
	n := ps.conns
	ps.conns++
	ps.pings = append(ps.pings, nil)
	ps.mu.Unlock()
	if n < len(ps.msgs) && writeText(ctx, c, ps.msgs[n]) != nil {
		return
	}
	for count := 0; ; count++ {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, b, err := c.Read(rctx)
		cancel()
		if err != nil {
			if rctx.Err() != nil && ctx.Err() == nil {
				_ = c.Close(websocket.StatusPolicyViolation, "no ping")
			}
			return
		}
		ps.mu.Lock()
		ps.pings[n] = append(ps.pings[n], string(b))
		ps.mu.Unlock()
		var ping struct {
			Op    string `json:"op"`
			ReqID *int   `json:"reqid"`
		}
		if json.Unmarshal(b, &ping) != nil || ping.Op != "ping" || ping.ReqID == nil {
			_ = c.Close(websocket.StatusPolicyViolation, "not a ping")
			return
		}
		if ps.answer && writeText(ctx, c, fmt.Sprintf(`{"reqid":%d,"result":true}`, *ping.ReqID)) != nil {
			return
		}
		if count == 1 && n < len(ps.msgsAfterPings) && writeText(ctx, c, ps.msgsAfterPings[n]) != nil {
			return
		}
	}
}

func TestBinary_appPingRepliesAreNeverPrinted(t *testing.T) {
	ps := &pingServer{answer: true, msgs: []string{`{"id":"1","data":"first"}`}, msgsAfterPings: []string{`{"id":"2","data":"second"}`}}
	srv := newWSServer(t, ps.handle)
	code, stdout, stderr := runBinary(t, "-json", "-n", "2", "-ws", wsURL(srv.URL), "-heartbeat", "400ms",
		"-app-ping", `{"op":"ping","reqid":{{n}}}`, "-app-pong-field", "result")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout, msg("1", "", `"first"`, "websocket"), msg("2", "", `"second"`, "websocket"))
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.conns != 1 {
		t.Errorf("%d connections, want 1 (the replies keep it alive); stderr:\n%s", ps.conns, stderr)
	}
	if len(ps.pings[0]) < 2 || ps.pings[0][0] != `{"op":"ping","reqid":0}` || ps.pings[0][1] != `{"op":"ping","reqid":1}` {
		t.Errorf("pings %q", ps.pings[0])
	}
}

func TestBinary_appPingWithoutReplyReconnects(t *testing.T) {
	ps := &pingServer{msgs: []string{`{"id":"1","data":"first"}`, `{"id":"2","data":"second"}`}}
	srv := newWSServer(t, ps.handle)
	code, stdout, stderr := runBinary(t, "-n", "2", "-ws", wsURL(srv.URL), "-heartbeat", "200ms",
		"-backoff-min", "10ms", "-backoff-max", "20ms",
		"-app-ping", `{"op":"ping","reqid":{{n}}}`, "-app-pong-field", "result")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if want := "websocket id=1 event= \"first\"\nwebsocket id=2 event= \"second\"\n"; stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	if !strings.Contains(stderr, "disconnected websocket") {
		t.Fatalf("no disconnection reported:\n%s", stderr)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.conns != 2 || len(ps.pings[0]) == 0 || ps.pings[0][0] != `{"op":"ping","reqid":0}` {
		t.Fatalf("%d connections, pings %q", ps.conns, ps.pings)
	}
}

func TestBinary_appPongFieldKeepsMessagesWithAnID(t *testing.T) {
	// A frame with the pong field and an id is a message; one with the
	// field and a null id, or none, is a reply.
	srv := newWSServer(t, func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		for _, f := range []string{
			`{"r":{"ok":true}}`,
			`{"m":{"seq":null},"r":{"ok":true}}`,
			`{"m":{"seq":4},"r":{"ok":true}}`,
			`{"m":{"seq":5},"v":1}`,
		} {
			if writeText(ctx, c, f) != nil {
				return
			}
		}
		drain(ctx, c)
	})
	code, stdout, stderr := runBinary(t, "-json", "-n", "2", "-ws", wsURL(srv.URL), "-id-field", "m.seq", "-app-pong-field", "r.ok")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("4", "", `{"m":{"seq":4},"r":{"ok":true}}`, "websocket"),
		msg("5", "", `{"m":{"seq":5},"v":1}`, "websocket"))
}

var sentText = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} anysub: sent (\S+)$`)

func TestBinary_sendOverWebSocket(t *testing.T) {
	srv := newServer(t)
	p := startBinary(t, true, "-json", "-n", "1", "-ws", srv.WebSocketURL(), "-send")
	lines := []string{`{"op":"hello"}`, `second line`, `{"op":"bye"}`}
	for _, l := range lines {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitSent(waitCtx(t), len(lines)); err != nil {
		t.Fatal(err)
	}
	p.waitLines(p.stderr, len(lines), hasState("sent", "websocket"))
	// The end of stdin does not end the run: a message published after it
	// still arrives.
	_ = p.stdin.Close()
	srv.Publish("after", []byte(`"eof"`))
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(), msg("1", "after", `"eof"`, "websocket"))

	var got []string
	for _, s := range srv.Sent() {
		if s.Path != testserver.PathWebSocket {
			t.Errorf("sent on %s", s.Path)
		}
		got = append(got, string(s.Body))
	}
	if !slices.Equal(got, lines) {
		t.Fatalf("server got %q, want %q", got, lines)
	}
	n := 0
	for l := range strings.Lines(p.stderr.String()) {
		s, ok := parseState(l)
		if !ok {
			t.Fatalf("stderr line %q is not a state", l)
		}
		if s.State == "sent" {
			n++
			if _, err := time.Parse(time.RFC3339Nano, s.Time); s.Transport != "websocket" || s.Error != "" || err != nil {
				t.Errorf("sent line %q", l)
			}
		}
	}
	if n != len(lines) {
		t.Fatalf("%d sent lines, want %d:\n%s", n, len(lines), p.stderr)
	}
}

func TestBinary_sendOverHTTP(t *testing.T) {
	srv := newServer(t)
	srv.FailSends(1, http.StatusBadRequest) // the first line fails for good
	p := startBinary(t, true, "-n", "1", "-sse", srv.SSEURL(), "-send-url", srv.SendURL(), "-send")
	for _, l := range []string{"refused", "one", "two"} {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitSent(waitCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	p.waitLines(p.stderr, 2, func(l string) bool { return sentText.MatchString(l) })
	p.waitLines(p.stderr, 1, contains("anysub: send-failed sse"))
	_ = p.stdin.Close()
	srv.Publish("after", []byte(`1`))
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if want := "sse       id=1 event=after 1\n"; p.stdout.String() != want {
		t.Fatalf("stdout %q, want %q", p.stdout, want)
	}
	sent := srv.Sent()
	if len(sent) != 2 || string(sent[0].Body) != "one" || string(sent[1].Body) != "two" {
		t.Fatalf("sent %+v", sent)
	}
	for _, s := range sent {
		if s.Path != testserver.PathSend || s.Key == "" {
			t.Errorf("sent %q on %s with key %q", s.Body, s.Path, s.Key)
		}
	}
	var sentLines []string
	for l := range strings.Lines(p.stderr.String()) {
		if m := sentText.FindStringSubmatch(strings.TrimSuffix(l, "\n")); m != nil {
			sentLines = append(sentLines, m[1])
		}
	}
	if !slices.Equal(sentLines, []string{"sse", "sse"}) {
		t.Fatalf("sent lines for %q; stderr:\n%s", sentLines, p.stderr)
	}
	if n := strings.Count(p.stderr.String(), "send-failed"); n != 1 {
		t.Fatalf("%d send-failed lines, want 1:\n%s", n, p.stderr)
	}

	// Without -send-url, a line goes to the URL of the transport in use.
	p = startBinary(t, true, "-n", "1", "-poll", srv.PollURL(), "-poll-interval", "10ms", "-since", "1", "-send")
	if _, err := io.WriteString(p.stdin, "to the poll URL\n"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitSent(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	p.waitLines(p.stderr, 1, func(l string) bool { return sentText.MatchString(l) && strings.HasSuffix(l, " poll") })
	srv.Publish("after", []byte(`2`))
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if s := srv.Sent()[2]; s.Path != testserver.PathPoll || string(s.Body) != "to the poll URL" {
		t.Fatalf("sent %q on %s", s.Body, s.Path)
	}
}

// authScript returns an -auth-cmd that prints line n of the file tokens on
// its n-th run, counting runs in the file count, and shows the token on its
// stderr too (which the command must not pass on).
func authScript(tokens, count string) string {
	return fmt.Sprintf(`n=$(cat '%[2]s' 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > '%[2]s'; `+
		`tok=$(sed -n "${n}p" '%[1]s'); echo "helper says $tok" >&2; echo "  $tok  "`, tokens, count)
}

// authRuns returns how many times authScript has run.
func authRuns(t *testing.T, count string) int {
	t.Helper()
	b, err := os.ReadFile(count)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || err2 != nil {
		t.Fatalf("count file %q: %v %v", b, err, err2)
	}
	return n
}

func writeLines(t *testing.T, file string, lines ...string) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// noSecrets fails the test if a token shows in the binary's output.
func noSecrets(t *testing.T, p *proc, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		for name, out := range map[string]string{"stdout": p.stdout.String(), "stderr": p.stderr.String()} {
			if strings.Contains(out, tok) {
				t.Errorf("token %q shows on %s:\n%s", tok, name, out)
			}
		}
	}
}

func TestBinary_authCmdWithARotatingToken(t *testing.T) {
	srv := newServer(t)
	rot := testserver.NewTokenRotator()
	srv.RequireToken(rot.Valid)
	dir := t.TempDir()
	tokens, count := filepath.Join(dir, "tokens"), filepath.Join(dir, "count")
	stale, first := "stale0123456789abcdef", rot.Current()
	writeLines(t, tokens, stale, first)
	srv.Publish("a", []byte(`1`))

	p := startBinary(t, false, "-json", "-n", "2", "-ws", srv.WebSocketURL(), "-auth-cmd", authScript(tokens, count),
		"-backoff-min", "10ms", "-backoff-max", "20ms")
	p.waitLines(p.stdout, 1, func(string) bool { return true })
	// The stale token was refused once and the command run once more.
	if n, runs := srv.Unauthorized(), authRuns(t, count); n != 1 || runs != 2 {
		t.Fatalf("%d refusals and %d runs of the command, want 1 and 2; stderr:\n%s", n, runs, p.stderr)
	}

	// The token expires and the server ends the session: the next
	// attempt runs the command again and gets the new token.
	second := rot.Rotate()
	writeLines(t, tokens, stale, first, second)
	if n := srv.DropUnauthorized(); n != 1 {
		t.Fatalf("DropUnauthorized cut %d streams, want 1", n)
	}
	srv.Publish("b", []byte(`2`))
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(), msg("1", "a", `1`, "websocket"), msg("2", "b", `2`, "websocket"))
	if n, runs := srv.Unauthorized(), authRuns(t, count); n != 1 || runs != 3 {
		t.Fatalf("%d refusals and %d runs of the command, want 1 and 3", n, runs)
	}
	noSecrets(t, p, stale, first, second)
}

func TestBinary_authCmdRefusedTwiceExitsOne(t *testing.T) {
	srv := newServer(t)
	rot := testserver.NewTokenRotator()
	srv.RequireToken(rot.Valid)
	dir := t.TempDir()
	tokens, count := filepath.Join(dir, "tokens"), filepath.Join(dir, "count")
	bad1, bad2 := "expired0123456789abcdef", "expired-too-0123456789"
	writeLines(t, tokens, bad1, bad2, rot.Current())

	p := startBinary(t, false, "-sse", srv.SSEURL(), "-auth-cmd", authScript(tokens, count))
	if code := p.wait(); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr)
	}
	if n, runs := srv.Unauthorized(), authRuns(t, count); n != 2 || runs != 2 {
		t.Fatalf("%d refusals and %d runs of the command, want 2 and 2", n, runs)
	}
	if s := p.stderr.String(); !strings.Contains(s, "subscription failed") || !strings.Contains(s, "401") {
		t.Fatalf("stderr:\n%s", s)
	}
	noSecrets(t, p, bad1, bad2)
}

func TestBinary_authCmdFailingIsTransientAndSaysNothingOfItsOutput(t *testing.T) {
	srv := newServer(t)
	p := startBinary(t, false, "-json", "-sse", srv.SSEURL(), "-max-attempts", "2", "-backoff-min", "10ms", "-backoff-max", "20ms",
		"-auth-cmd", "echo out-secret-1234; echo err-secret-5678 >&2; exit 3")
	if code := p.wait(); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr)
	}
	if n := srv.Requests(testserver.PathSSE); n != 0 {
		t.Fatalf("%d requests without a token", n)
	}
	if got, _ := p.stderr.count(hasState("disconnected", "")); got != 1 {
		t.Errorf("%d disconnections before giving up, want 1:\n%s", got, p.stderr)
	}
	if s := p.stderr.String(); !strings.Contains(s, "-auth-cmd failed: exit status 3") || !strings.Contains(s, "gave up after 2") {
		t.Fatalf("stderr:\n%s", s)
	}
	noSecrets(t, p, "out-secret", "err-secret")
}

func TestBinary_maxAttemptsGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every attempt is refused

	code, stdout, stderr := runBinary(t, "-json", "-max-attempts", "3", "-sse", "http://"+addr+"/sse",
		"-backoff-min", "10ms", "-backoff-max", "20ms")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	var connecting int
	var last stateLine
	for l := range strings.Lines(stderr) {
		s, ok := parseState(l)
		if !ok {
			t.Fatalf("stderr line %q is not a state", l)
		}
		if s.State == "connecting" {
			connecting++
		}
		last = s
	}
	if connecting != 3 || last.State != "failed" || !strings.Contains(last.Error, "gave up after 3") {
		t.Fatalf("%d attempts, last line %+v; stderr:\n%s", connecting, last, stderr)
	}
}

func TestBinary_cacertTrustsAPrivateAuthority(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		stop := context.AfterFunc(ctx, func() { _ = c.CloseNow() })
		defer stop()
		if writeText(ctx, c, `{"id":"1","data":"over tls"}`) == nil {
			drain(ctx, c)
		}
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: over tls\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	wss := wsURL(srv.URL) + "/ws"

	// Without -cacert the certificate is unknown: a permanent failure.
	for _, args := range [][]string{{"-sse", srv.URL + "/sse"}, {"-ws", wss}} {
		code, stdout, stderr := runBinary(t, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "certificate") {
			t.Fatalf("%q: exit %d, stdout %q; stderr:\n%s", args, code, stdout, stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-sse", srv.URL + "/sse"}, "sse       id=1 event= over tls\n"},
		{[]string{"-ws", wss}, `websocket id=1 event= "over tls"` + "\n"},
	} {
		code, stdout, stderr := runBinary(t, append([]string{"-n", "1", "-cacert", ca}, c.args...)...)
		if code != 0 || stdout != c.want {
			t.Fatalf("%q: exit %d, stdout %q, want %q; stderr:\n%s", c.args, code, stdout, c.want, stderr)
		}
	}
}
