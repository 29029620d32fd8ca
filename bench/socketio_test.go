package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/leakcheck"
	"github.com/anysub/anysub/transport"
	"github.com/anysub/anysub/transport/socketio"
	zengine "github.com/zishang520/socket.io/clients/engine/v3"
	zsocket "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// The Socket.IO rows read a real socket.io 4.8 server (node/server.js, run
// by node): every client, Go or Node, reads the same process. Event i
// (from 1) is "tick" with one argument {"seq": i, "text": msgText}: as a
// JSON array of arguments, "[" + appendData(i) + "]".

// nodeDir is where the Node side of the benchmarks lives.
const nodeDir = "node"

// nodeInstall is the command that installs it, from the repository's root.
const nodeInstall = "npm ci --prefix bench/node"

// sioCarriers are the Engine.IO carriers measured, each on its own from the
// handshake (no upgrade): the row group's name and socket.io's name.
var sioCarriers = []struct{ group, name string }{
	{"SocketIO-WebSocket", socketio.WebSocket},
	{"SocketIO-Polling", socketio.Polling},
}

// sioRead is what a Socket.IO row read.
type sioRead struct {
	events int
	bad    []string // the first few events that were not as sent
	// elapsed and cpu are the client process's own measures, from just
	// before it connects to the last event (rows in another process only).
	elapsed, cpu time.Duration
}

// sioRow is one Socket.IO client. read connects to the server at base over
// carrier and reads n events; with check, every event's name and arguments
// (a JSON array) are compared with what was sent (in the benchmarks the
// rows only count).
type sioRow struct {
	name  string
	node  bool // the row runs in a node process
	read  func(ctx context.Context, base, carrier string, n int, check bool) (sioRead, error)
	idle  func(ctx context.Context, base, carrier string, hc *http.Client) (close func(), err error)
	nodeN func(ctx context.Context, base, carrier string, conns int) (nodeIdle, error)
}

var sioRows = []sioRow{
	{name: "anysub", read: sioAnysub, idle: sioAnysubIdle},
	{name: "anysub-transport", read: sioAnysubStream},
	{name: "zishang520", read: sioZishang, idle: sioZishangIdle},
	{name: "node-socket.io-client", node: true, read: sioNode, nodeN: sioNodeIdle},
}

// wantArgs returns the arguments of event i as the server sends them.
func wantArgs(i int) []byte {
	b := append([]byte{'['}, appendData(nil, i)...)
	return append(b, ']')
}

// sioChecker collects the first few events that differ from what was sent.
type sioChecker struct {
	i   int
	bad []string
}

func (c *sioChecker) check(event string, args []byte) {
	c.i++
	if event != "tick" || !bytes.Equal(args, wantArgs(c.i)) {
		if len(c.bad) < 3 {
			c.bad = append(c.bad, fmt.Sprintf("event %d: %q %.100q", c.i, event, args))
		}
	}
}

// sioURL is the URL of namespace "/" asking the server for n events.
func sioURL(base string, n int) string { return base + "/?n=" + strconv.Itoa(n) }

func sioTransport(base, carrier string, n int) *socketio.Transport {
	return &socketio.Transport{URL: sioURL(base, n), Transports: []string{carrier}}
}

// sioAnysub reads through client.Subscribe and Next.
func sioAnysub(ctx context.Context, base, carrier string, n int, check bool) (sioRead, error) {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	cfg := anysubConfig(sioTransport(base, carrier, n))
	cfg.HTTPClient = hc
	sub, err := client.Subscribe(ctx, cfg)
	if err != nil {
		return sioRead{}, err
	}
	defer sub.Close()
	var c sioChecker
	for range n {
		m, err := sub.Next(ctx)
		if err != nil {
			return sioRead{events: c.i, bad: c.bad}, err
		}
		if check {
			c.check(m.Event, m.Data)
		} else {
			c.i++
		}
	}
	return sioRead{events: c.i, bad: c.bad}, nil
}

// sioAnysubStream reads the transport's stream alone.
func sioAnysubStream(ctx context.Context, base, carrier string, n int, check bool) (sioRead, error) {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	s, err := sioTransport(base, carrier, n).Open(ctx, transport.Request{HTTPClient: hc})
	if err != nil {
		return sioRead{}, err
	}
	defer s.Close()
	var c sioChecker
	for c.i < n {
		m, err := s.Next(context.Background())
		if err != nil {
			return sioRead{events: c.i, bad: c.bad}, err
		}
		if m.Gap {
			continue // a continuity marker, not an event
		}
		if check {
			c.check(m.Event, m.Data)
		} else {
			c.i++
		}
	}
	return sioRead{events: c.i, bad: c.bad}, nil
}

// zishangOptions are the options of one zishang520 socket: its own
// Engine.IO session (no multiplexing), carrier alone, no reconnection, and
// a connect timeout of 2 s instead of 20 s (see sioZishangIdle), which on
// loopback only bounds the rare connect that never gets going.
func zishangOptions(carrier string, n int) *zsocket.Options {
	opts := zsocket.DefaultOptions()
	ctor := zengine.TransportCtor(zsocket.WebSocket)
	if carrier == socketio.Polling {
		ctor = zsocket.Polling
	}
	opts.SetTransports(types.NewSet(ctor))
	opts.SetUpgrade(false)
	opts.SetForceNew(true)
	opts.SetReconnection(false)
	opts.SetTimeout(2 * time.Second)
	opts.SetAutoConnect(false) // zishangDial connects once its listeners are on
	opts.SetQuery(url.Values{"n": {strconv.Itoa(n)}})
	return opts
}

// zishangDial opens a zishang520 socket, with the listeners on adds
// before it starts connecting, and returns once it is connected: an error
// when it is refused, when its connect times out, or when neither happens
// within 3 s (the library's own timeout has been seen not to fire).
func zishangDial(ctx context.Context, base, carrier string, n int, on func(*zsocket.Socket)) (*zsocket.Socket, error) {
	s, err := zsocket.Connect(base+"/", zishangOptions(carrier, n))
	if err != nil {
		return nil, err
	}
	connected := make(chan error, 2)
	s.Once("connect", func(...any) { connected <- nil })
	s.Once("connect_error", func(args ...any) { connected <- fmt.Errorf("connect_error %v", args) })
	if on != nil {
		on(s)
	}
	s.Connect()
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case err = <-connected:
	case <-t.C:
		err = errors.New("neither connected nor refused within 3 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.Disconnect()
		return nil, err
	}
	return s, nil
}

// sioZishang reads with github.com/zishang520/socket.io's client: a
// listener for "tick" that counts (and, with check, encodes the
// arguments the library decoded back to JSON for the comparison).
func sioZishang(ctx context.Context, base, carrier string, n int, check bool) (sioRead, error) {
	var (
		mu   sync.Mutex
		c    sioChecker
		done = make(chan struct{})
		fail = make(chan error, 1)
	)
	read := func() sioRead {
		mu.Lock()
		defer mu.Unlock()
		return sioRead{events: c.i, bad: c.bad}
	}
	s, err := zishangDial(ctx, base, carrier, n, func(s *zsocket.Socket) {
		s.On("tick", func(args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if c.i >= n {
				return
			}
			if check {
				b, err := json.Marshal(args)
				if err != nil {
					b = []byte(err.Error())
				}
				c.check("tick", b)
			} else {
				c.i++
			}
			if c.i == n {
				close(done)
			}
		})
		s.On("disconnect", func(args ...any) {
			select {
			case fail <- fmt.Errorf("disconnect %v", args):
			default:
			}
		})
	})
	if err != nil {
		return read(), err
	}
	defer s.Disconnect()
	select {
	case <-done:
		return read(), nil
	case err := <-fail:
		return read(), err
	case <-ctx.Done():
		return read(), ctx.Err()
	}
}

// nodePaths returns node's path and the absolute path of a script of the
// Node side, or an error naming the command that installs what is missing.
func nodePaths(name string) (node, script string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("the Socket.IO rows need node (Node.js 20 or later) on PATH: %v", err)
	}
	for _, pkg := range []string{"socket.io", "socket.io-client"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", pkg, "package.json")); err != nil {
			return "", "", fmt.Errorf("package %s is not installed in bench/node (run from the repository's root: %s)", pkg, nodeInstall)
		}
	}
	script, err = filepath.Abs(filepath.Join(nodeDir, name))
	return node, script, err
}

// requireNode fails tb, with the install command, unless node and the
// Node side's packages are there.
func requireNode(tb testing.TB) {
	tb.Helper()
	if _, _, err := nodePaths("client.js"); err != nil {
		tb.Fatal(err)
	}
}

// startSIOServer runs node/server.js and returns its base URL; it stops
// with tb.
func startSIOServer(tb testing.TB) string {
	tb.Helper()
	node, script, err := nodePaths("server.js")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(node, script, "--text", msgText)
	cmd.Dir = nodeDir
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		tb.Fatalf("socket.io server: %q, %v", line, err)
	}
	return "http://127.0.0.1:" + port
}

// lazySIOServer returns a function that starts the socket.io server the
// first time a row asks for it (-bench may select none of them) and
// returns its URL; the server stops with parent. It fails the asking row,
// with the install command, when node or the packages are missing.
func lazySIOServer(parent testing.TB) func(testing.TB) string {
	var base string
	return func(tb testing.TB) string {
		tb.Helper()
		requireNode(tb)
		if base == "" {
			base = startSIOServer(parent)
		}
		return base
	}
}

// sioIntactCount is how many events each Socket.IO row must deliver
// intact.
const sioIntactCount = 5000

// sioIntact is the Socket.IO part of TestIntact: every row, over each
// carrier, reads sioIntactCount events and each must be the one sent,
// byte for byte (for zishang520, the arguments it decoded encoded back to
// JSON; for node, JSON.stringify of the arguments it got, compared in the
// node process).
func sioIntact(t *testing.T) {
	server := lazySIOServer(t)
	for _, c := range sioCarriers {
		for _, row := range sioRows {
			t.Run(c.group+"/"+row.name, func(t *testing.T) {
				base := server(t)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				r, err := row.read(ctx, base, c.name, sioIntactCount, true)
				if err == nil && r.events != sioIntactCount {
					err = fmt.Errorf("got %d of %d events", r.events, sioIntactCount)
				}
				if err == nil && len(r.bad) == 0 {
					return
				}
				msg := fmt.Sprintf("NOT INTACT: %s over %s: run error %v after %d events; bad events %v", row.name, c.group, err, r.events, r.bad)
				if peers[row.name] {
					t.Skip(msg)
				}
				t.Fatal(msg)
			})
		}
	}
}

// nodeRun runs node/client.js with args and decodes the one JSON line it
// prints into out.
func nodeRun(ctx context.Context, node, script string, out any, args ...string) error {
	cmd := exec.CommandContext(ctx, node, append([]string{"--expose-gc", script}, args...)...)
	cmd.Dir = nodeDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if len(b) > 0 {
		if jerr := json.Unmarshal(b, out); jerr != nil && err == nil {
			err = fmt.Errorf("client.js printed %q: %v", b, jerr)
		}
	}
	if err != nil {
		return fmt.Errorf("%v (stderr %q)", err, stderr.String())
	}
	return nil
}

// sioNode reads with the official socket.io-client in a node process
// (client.js throughput), which times itself.
func sioNode(ctx context.Context, base, carrier string, n int, check bool) (sioRead, error) {
	node, script, err := nodePaths("client.js")
	if err != nil {
		return sioRead{}, err
	}
	args := []string{"throughput", "--url", base + "/", "--transport", carrier, "--text", msgText, "--n", strconv.Itoa(n)}
	if check {
		args = append(args, "--check")
	}
	var out struct {
		Events, Bad int
		FirstBad    string
		Ns, CPUUs   int64
		Error       string
	}
	err = nodeRun(ctx, node, script, &out, args...)
	r := sioRead{events: out.Events, elapsed: time.Duration(out.Ns), cpu: time.Duration(out.CPUUs) * time.Microsecond}
	if out.Bad > 0 {
		r.bad = []string{fmt.Sprintf("%d bad events, the first %s", out.Bad, out.FirstBad)}
	}
	if err == nil && out.Error != "" {
		err = errors.New(out.Error)
	}
	return r, err
}

// sioThroughput is the Socket.IO part of BenchmarkThroughput (it runs from
// there, so that run.sh and the report take its rows as they are): every
// row reads b.N events from one socket.io server in a node process. One op is one
// event. msgs/s and ns/op are from just before the client connects to its
// last event; for the node row that span is measured inside the node
// process (its start-up is not counted) and allocations are not reported.
// cpu-ns/msg is the client process's CPU time (user and system, every
// thread) over the same span, per event.
func sioThroughput(b *testing.B) {
	server := lazySIOServer(b)
	for _, c := range sioCarriers {
		for _, row := range sioRows {
			b.Run(c.group+"/"+row.name, func(b *testing.B) {
				base := server(b)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if !row.node {
					b.SetBytes(int64(msgSize))
					b.ReportAllocs()
				}
				var (
					r   sioRead
					err error
					cpu time.Duration
				)
				for attempt := 1; ; attempt++ {
					cpu0 := processCPU()
					b.ResetTimer()
					r, err = row.read(ctx, base, c.name, b.N, false)
					b.StopTimer()
					cpu = processCPU() - cpu0
					if err == nil && r.events != b.N {
						err = fmt.Errorf("%d of %d events", r.events, b.N)
					}
					if err == nil {
						break
					}
					// A peer's failed attempt (TestIntact reports such
					// failures) is started over from a new connection, at
					// most twice, and logged; an anysub row's fails.
					if !peers[row.name] || attempt == 3 {
						b.Fatalf("attempt %d: %d of %d events, %v", attempt, r.events, b.N, err)
					}
					b.Logf("attempt %d failed and was started over: %d of %d events, %v", attempt, r.events, b.N, err)
				}
				elapsed := b.Elapsed()
				if row.node {
					elapsed, cpu = r.elapsed, r.cpu
					b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/op")
					b.ReportMetric(float64(msgSize)*float64(b.N)/1e6/elapsed.Seconds(), "MB/s")
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
			})
		}
	}
}

// sioAnysubIdle opens one idle anysub subscription with its defaults.
func sioAnysubIdle(ctx context.Context, base, carrier string, hc *http.Client) (func(), error) {
	cfg := anysubConfig(sioTransport(base, carrier, 0))
	cfg.HTTPClient = hc
	sub, err := client.Subscribe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return func() { sub.Close() }, nil
}

// zishangRetries counts the idle zishang520 sockets that had to be opened
// again (see sioZishangIdle).
var zishangRetries atomic.Int64

// sioZishangIdle opens one idle zishang520 socket (which makes its own
// HTTP client) and waits until it is connected. Now and then (about one in
// a hundred WebSocket sockets opened back to back on this machine) the
// library never gets a connection going; the socket is then dropped and
// opened again, up to three times, and zishangRetries counts it.
func sioZishangIdle(ctx context.Context, base, carrier string, _ *http.Client) (func(), error) {
	var err error
	for range 3 {
		var s *zsocket.Socket
		if s, err = zishangDial(ctx, base, carrier, 0, nil); err == nil {
			return func() { s.Disconnect() }, nil
		}
		if ctx.Err() != nil {
			break
		}
		zishangRetries.Add(1)
	}
	return nil, err
}

// nodeIdle is what client.js idle reports: the growth of the node
// process's resident set, V8 heap in use and memory outside the heap
// across conns connections, after full collections.
type nodeIdle struct {
	Conns               int
	RSS, Heap, External float64
	Error               string
}

func sioNodeIdle(ctx context.Context, base, carrier string, conns int) (nodeIdle, error) {
	node, script, err := nodePaths("client.js")
	if err != nil {
		return nodeIdle{}, err
	}
	var out nodeIdle
	err = nodeRun(ctx, node, script, &out, "idle", "--url", base+"/", "--transport", carrier, "--text", msgText, "--conns", strconv.Itoa(conns))
	if err == nil && out.Error != "" {
		err = errors.New(out.Error)
	}
	if err == nil && out.Conns != conns {
		err = fmt.Errorf("%d of %d connections", out.Conns, conns)
	}
	return out, err
}

// rss is this process's resident set size.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// sioIdle is the Socket.IO part of BenchmarkIdle: idleSubs() idle
// connections of one row to the socket.io server (in a node process). The
// Go rows report B/sub as the other idle rows do (heap in use plus
// goroutine stacks) and goroutines/sub; the node row's B/sub is the growth
// of V8's heap in use plus memory outside the heap. Every row also reports
// rss-B/sub, the growth of its process's resident set per connection
// (for the Go rows after returning freed memory to the system before each
// reading).
func sioIdle(b *testing.B) {
	server := lazySIOServer(b)
	for _, c := range sioCarriers {
		for _, row := range sioRows {
			if row.idle == nil && row.nodeN == nil {
				continue
			}
			b.Run(c.group+"/"+row.name, func(b *testing.B) {
				base := server(b)
				var sum sioIdleFigures
				retries := zishangRetries.Load()
				defer func() {
					if n := zishangRetries.Load() - retries; n > 0 {
						b.Logf("%d sockets were opened again after a connect timeout", n)
					}
				}()
				for range b.N {
					f := measureSIOIdle(b, base, c.name, row)
					sum.mem += f.mem
					sum.rss += f.rss
					sum.goroutines += f.goroutines
					sum.sessions += f.sessions
				}
				b.ReportMetric(sum.mem/float64(b.N), "B/sub")
				b.ReportMetric(sum.rss/float64(b.N), "rss-B/sub")
				if !row.node {
					b.ReportMetric(sum.goroutines/float64(b.N), "goroutines/sub")
					b.ReportMetric(sum.sessions/float64(b.N), "sessions/sub")
				}
			})
		}
	}
}

// sioIdleFigures are one idle measurement, per connection.
type sioIdleFigures struct {
	mem, rss, goroutines, sessions float64
}

func measureSIOIdle(b *testing.B, base, carrier string, row sioRow) sioIdleFigures {
	n := idleSubs()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if row.node {
		r, err := row.nodeN(ctx, base, carrier, n)
		if err != nil {
			b.Fatal(err)
		}
		return sioIdleFigures{mem: (r.Heap + r.External) / float64(n), rss: r.RSS / float64(n)}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer hc.CloseIdleConnections()
	settle() // what the previous row closed may still be going away
	s0 := serverSessions(b, base)
	m0, g0 := idleFootprint()
	debug.FreeOSMemory()
	r0 := rss()
	closers := make([]func(), 0, n)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range n {
		c, err := row.idle(ctx, base, carrier, hc)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, c)
	}
	settle()
	m1, g1 := idleFootprint()
	debug.FreeOSMemory()
	r1 := rss()
	s1 := serverSessions(b, base)
	per := func(d float64) float64 { return d / float64(n) }
	return sioIdleFigures{
		mem:        per(float64(m1) - float64(m0)),
		rss:        per(float64(r1) - float64(r0)),
		goroutines: per(float64(g1 - g0)),
		sessions:   per(float64(s1 - s0)),
	}
}

// serverSessions asks the socket.io server how many Engine.IO sessions it
// has open.
func serverSessions(tb testing.TB, base string) int {
	tb.Helper()
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(base + "/sessions")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Sessions int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatal(err)
	}
	return out.Sessions
}

// zishangMonitor is the goroutine zishang520's engine package starts when
// it is initialised and never stops (it polls the network interfaces every
// 3 s, to emit online and offline events): it belongs to the process, not
// to a test, so the leak check leaves it out.
const zishangMonitor = "created by github.com/zishang520/socket.io/v3/pkg/utils.SetInterval in goroutine 1\n"

// mainLeakChecked is leakcheck.Main but for zishangMonitor: it runs the
// tests and fails the binary when a goroutine they started survives them.
func mainLeakChecked(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if leaked := leaks(); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leaks is leakcheck.Check(leakcheck.Grace) without zishangMonitor.
func leaks() string {
	deadline := time.Now().Add(leakcheck.Grace)
	for {
		var left []string
		for _, g := range strings.Split(leakcheck.Check(0), "\n\n") {
			if g != "" && !strings.Contains(g+"\n", zishangMonitor) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
