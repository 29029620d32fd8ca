//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// InstallToxiproxy is the command that builds the Toxiproxy server where
// the harness looks for it; failures to find it quote it.
const InstallToxiproxy = "GOBIN=$PWD/.tools/bin go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0 && " +
	"mv .tools/bin/server .tools/bin/toxiproxy-server"

// Toxiproxy is a running toxiproxy-server process and a client of its REST
// API. It is a separate process, so the faults it injects are real TCP
// behaviour (closed and silent sockets), not simulated inside the test
// binary. Its methods are safe for concurrent use.
type Toxiproxy struct {
	api  string // "http://127.0.0.1:PORT"
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	hc   *http.Client

	closeOnce sync.Once
}

// ToxiproxyBinary returns the path of toxiproxy-server: $TOXIPROXY_SERVER,
// or else .tools/bin/toxiproxy-server under the repository root. It fails,
// naming the install command, when neither exists.
func ToxiproxyBinary() (string, error) {
	if p := os.Getenv("TOXIPROXY_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chaos: TOXIPROXY_SERVER=%s: %w", p, err)
		}
		return p, nil
	}
	p := filepath.Join(RepoRoot(), ".tools", "bin", "toxiproxy-server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("chaos: toxiproxy-server not found at %s (and TOXIPROXY_SERVER unset); build it from the repository root with:\n  %s", p, InstallToxiproxy)
	}
	return p, nil
}

// RepoRoot is the repository's root directory, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// StartToxiproxy runs toxiproxy-server on 127.0.0.1 with a free API port and
// returns once its API answers. Its output goes to logw (nil discards it).
func StartToxiproxy(ctx context.Context, logw io.Writer) (*Toxiproxy, error) {
	bin, err := ToxiproxyBinary()
	if err != nil {
		return nil, err
	}
	for range 5 { // a port picked free can be taken before the server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		tp, err := startToxiproxyOn(ctx, bin, port, logw)
		if err == nil {
			return tp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, errors.New("chaos: toxiproxy-server did not start on any of 5 free ports")
}

func startToxiproxyOn(ctx context.Context, bin string, port int, logw io.Writer) (*Toxiproxy, error) {
	if logw == nil {
		logw = io.Discard
	}
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port), "-seed", "1")
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start toxiproxy-server: %w", err)
	}
	tp := &Toxiproxy{
		api:  "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:  cmd,
		done: make(chan struct{}),
		hc:   &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
	}
	go func() { _ = cmd.Wait(); close(tp.done) }()

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wait := 5 * time.Millisecond
	for {
		if err := tp.do(wctx, http.MethodGet, "/version", nil, nil); err == nil {
			return tp, nil
		}
		select {
		case <-tp.done:
			tp.Close()
			return nil, fmt.Errorf("chaos: toxiproxy-server on port %d exited at start", port)
		case <-wctx.Done():
			tp.Close()
			return nil, fmt.Errorf("chaos: toxiproxy-server on port %d: API not answering: %w", port, wctx.Err())
		case <-time.After(wait): // polling for the API to come up, with a deadline
			wait = min(2*wait, 100*time.Millisecond)
		}
	}
}

// Close kills the process and waits for it to exit. Idempotent.
func (tp *Toxiproxy) Close() error {
	tp.closeOnce.Do(func() {
		_ = tp.cmd.Process.Kill()
		<-tp.done
		tp.hc.CloseIdleConnections()
	})
	return nil
}

// Proxy is one TCP proxy inside Toxiproxy.
type Proxy struct {
	tp     *Toxiproxy
	Name   string
	Listen string // the address clients connect to, "127.0.0.1:PORT"
}

// CreateProxy makes a proxy listening on a free loopback port and
// forwarding to upstream ("host:port").
func (tp *Toxiproxy) CreateProxy(ctx context.Context, name, upstream string) (*Proxy, error) {
	in := map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}
	var out struct {
		Name   string `json:"name"`
		Listen string `json:"listen"`
	}
	if err := tp.do(ctx, http.MethodPost, "/proxies", in, &out); err != nil {
		return nil, err
	}
	return &Proxy{tp: tp, Name: out.Name, Listen: out.Listen}, nil
}

// URL is the proxy's address as an http URL followed by path.
func (p *Proxy) URL(path string) string { return "http://" + p.Listen + path }

// SetEnabled turns the proxy on or off. Turning it off closes every
// connection through it and stops listening; on listens again on the same
// address.
func (p *Proxy) SetEnabled(ctx context.Context, on bool) error {
	return p.tp.do(ctx, http.MethodPost, "/proxies/"+p.Name, map[string]any{"enabled": on}, nil)
}

// Toxic describes one toxic to add. Stream is "downstream" (server to
// client) or "upstream"; Attributes are the toxic type's fields, e.g.
// {"timeout": 0} for reset_peer or timeout, {"latency": 100} for latency.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// AddToxic adds t to the proxy. Toxiproxy applies it to the connections
// already open as well as to new ones.
func (p *Proxy) AddToxic(ctx context.Context, t Toxic) error {
	if t.Toxicity == 0 {
		t.Toxicity = 1
	}
	return p.tp.do(ctx, http.MethodPost, "/proxies/"+p.Name+"/toxics", t, nil)
}

// RemoveToxic removes the toxic called name.
func (p *Proxy) RemoveToxic(ctx context.Context, name string) error {
	return p.tp.do(ctx, http.MethodDelete, "/proxies/"+p.Name+"/toxics/"+name, nil, nil)
}

// AddBoth adds a toxic of typ with attrs in both directions, named
// name+"_down" and name+"_up".
func (p *Proxy) AddBoth(ctx context.Context, name, typ string, attrs map[string]any) error {
	for _, dir := range []string{"downstream", "upstream"} {
		if err := p.AddToxic(ctx, Toxic{Name: name + "_" + dir, Type: typ, Stream: dir, Attributes: attrs}); err != nil {
			return err
		}
	}
	return nil
}

// RemoveBoth removes what AddBoth added under name.
func (p *Proxy) RemoveBoth(ctx context.Context, name string) error {
	var errs []error
	for _, dir := range []string{"downstream", "upstream"} {
		errs = append(errs, p.RemoveToxic(ctx, name+"_"+dir))
	}
	return errors.Join(errs...)
}

// do sends one API request with in as its JSON body (when not nil) and
// decodes the answer into out (when not nil).
func (tp *Toxiproxy) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, tp.api+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tp.hc.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("chaos: toxiproxy %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("chaos: toxiproxy %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("chaos: toxiproxy %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
