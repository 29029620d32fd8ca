//go:build interop

package nodeserver_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// startSIO runs socketio.js for the test, its stderr in the test's output.
func startSIO(t *testing.T, opts nodeserver.SocketIOOptions) *nodeserver.SocketIO {
	t.Helper()
	if opts.Stderr == nil {
		opts.Stderr = t.Output()
	}
	// A loaded machine can take a while to start node with socket.io.
	srv, err := nodeserver.StartSocketIO(sioCtx(t, 60*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// sioCtx bounds the longer Socket.IO tests.
func sioCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sioConfig is a client config for Socket.IO rungs: quick reconnections,
// the heartbeat left to the server's pings.
func sioConfig(trs ...transport.Transport) client.Config {
	return client.Config{
		Transports:  trs,
		Backoff:     backoff.Exponential{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		EventBuffer: 4096,
	}
}

// events records a subscription's events as they come.
type events struct {
	mu      sync.Mutex
	list    []client.Event
	changed chan struct{}
	done    chan struct{}
}

// follow records sub's events until it ends; the test's cleanup closes sub
// and waits for the recorder.
func follow(t *testing.T, sub *client.Subscription) *events {
	l := &events{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for e := range sub.Events() {
			l.mu.Lock()
			l.list = append(l.list, e)
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		sub.Close()
		<-l.done
	})
	return l
}

// snapshot returns the events so far.
func (l *events) snapshot() []client.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]client.Event(nil), l.list...)
}

// count returns how many events match.
func (l *events) count(match func(client.Event) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.list {
		if match(e) {
			n++
		}
	}
	return n
}

// wait waits until n events match.
func (l *events) wait(t *testing.T, ctx context.Context, n int, match func(client.Event) bool) {
	t.Helper()
	for {
		l.mu.Lock()
		got := 0
		for _, e := range l.list {
			if match(e) {
				got++
			}
		}
		ch := l.changed
		all := append([]client.Event(nil), l.list...)
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%d matching events of %d wanted: %v", got, n, all)
		}
	}
}

func kind(k client.EventKind) func(client.Event) bool {
	return func(e client.Event) bool { return e.Kind == k }
}

func carrier(from, to string) func(client.Event) bool {
	return func(e client.Event) bool { return e.Kind == client.EventCarrier && e.From == from && e.To == to }
}

// waitSIO polls the server's counters until cond holds. The counters are
// in another process; polling them is the only way to watch them.
func waitSIO(t *testing.T, ctx context.Context, srv *nodeserver.SocketIO, cond func(nodeserver.SocketIOStats) bool) nodeserver.SocketIOStats {
	t.Helper()
	for {
		st, err := srv.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		select {
		case <-time.After(10 * time.Millisecond): // polling another process's state, with a deadline
		case <-ctx.Done():
			t.Fatalf("server counters never matched: %+v", st)
		}
	}
}

// emit emits event with args on nsp.
func emit(t *testing.T, ctx context.Context, srv *nodeserver.SocketIO, nsp, event string, args ...any) {
	t.Helper()
	if err := srv.Emit(ctx, nsp, event, args...); err != nil {
		t.Fatal(err)
	}
}

// wsProxy is a reverse proxy in front of a server that can refuse
// WebSocket upgrades with 403, as a proxy that blocks them would.
type wsProxy struct {
	*httptest.Server
	blocked atomic.Bool
	refused atomic.Int64
}

func newWSProxy(t *testing.T, target string) *wsProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &wsProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.blocked.Load() && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			p.refused.Add(1)
			http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.CloseClientConnections()
		p.Close()
		rp.Transport.(*http.Transport).CloseIdleConnections()
	})
	return p
}

// buildCLI builds examples/subscribe into dir and returns its path.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "subscribe")
	cmd := exec.Command("go", "build", "-o", path, "./examples/subscribe")
	cmd.Dir = filepath.Join(nodeserver.Dir(), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

// runCLI runs the command to its end and returns its exit code and output.
func runCLI(t *testing.T, ctx context.Context, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q did not end: %v\nstderr:\n%s", args, ctx.Err(), stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// payloadN reads {"n": N} from the first argument of a message's data.
func payloadN(t *testing.T, m client.Message) int {
	t.Helper()
	var args []struct{ N *int }
	if err := json.Unmarshal(m.Data, &args); err != nil || len(args) != 1 || args[0].N == nil {
		t.Fatalf("message %s %s: not [{\"n\": N}]: %v", m.ID, m.Data, err)
	}
	return *args[0].N
}

// tcpProxy forwards TCP connections to a server and can black-hole them:
// while it does, nothing is forwarded either way and the connections stay
// open, so each end sees a silent peer (a half-open connection).
type tcpProxy struct {
	ln     net.Listener
	target string
	holed  atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's http URL.
func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies src to dst, holding every chunk while the proxy black-holes.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.holed.Load() {
				return // swallowed for good; the connection stays open, silent
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// close stops accepting, cuts every connection and waits for the pipes.
func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// payloadID is a message's id, for the set of those seen.
func payloadID(m client.Message) string { return m.ID }
