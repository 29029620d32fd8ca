package nodeserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// shellScript raises the open-files soft limit to the hard limit (Go restores
// the original soft limit for children, often 1024, too few for a thousand
// subscribers) and then becomes node, so the process id is node's own.
const shellScript = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`

// proc is one running node process. Its single goroutine reads stdout,
// reports the listening line on ready, forwards everything else, and then
// waits for the process; done is closed once it has all finished.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // held open; node exits when it closes (--parent-pipe)
	ready  chan string    // the announced address, at most once
	done   chan struct{}  // closed after the process has exited and output is drained
	err    error          // cmd.Wait's result, valid after done
	stderr *tail
}

// spawn starts node running script (a file in dir) with args. stdout and
// stderr receive the process's output (the listening line excepted); neither
// may be nil.
func spawn(node, dir, script string, args []string, stdout, stderr io.Writer) (*proc, error) {
	p := &proc{
		ready:  make(chan string, 1),
		done:   make(chan struct{}),
		stderr: &tail{max: 4096},
	}
	shArgs := append([]string{"-c", shellScript, node, script, "--parent-pipe"}, args...)
	p.cmd = exec.Command("/bin/sh", shArgs...)
	p.cmd.Dir = dir
	p.cmd.Stderr = io.MultiWriter(p.stderr, lenient{stderr})
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("nodeserver: starting node: %w", err)
	}
	go p.run(out, stdout)
	return p, nil
}

// run is the process's goroutine: it ends when the process has exited.
func (p *proc) run(out io.Reader, fwd io.Writer) {
	defer close(p.done)
	br := bufio.NewReader(out)
	for {
		line, err := br.ReadString('\n')
		if addr, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "listening "); ok && err == nil {
			p.ready <- addr
			_, _ = io.Copy(lenient{fwd}, br) // until the process closes stdout
			break
		}
		_, _ = io.WriteString(lenient{fwd}, line)
		if err != nil {
			break
		}
	}
	p.err = p.cmd.Wait()
}

// listening waits for the address the process announces. If the process
// exits first, or ctx ends (the process is then killed), it fails.
func (p *proc) listening(ctx context.Context) (string, error) {
	select {
	case addr := <-p.ready:
		return addr, nil
	case <-p.done:
		return "", p.failure()
	case <-ctx.Done():
		_ = p.kill()
		return "", fmt.Errorf("nodeserver: waiting for node to listen: %w", ctx.Err())
	}
}

// stop asks the process to end with SIGTERM, kills it if it has not ended
// after grace, and returns once it and its goroutine are gone.
func (p *proc) stop(grace time.Duration) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		return errors.Join(err, p.kill())
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return p.kill()
	}
}

// lookNode returns the node binary and the directory of the scripts, or an
// error naming the fix when node is missing or the packages the scripts
// need are not installed.
func lookNode() (node, dir string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("nodeserver: node not found on PATH (install Node.js 20 or later): %w", err)
	}
	dir = Dir()
	for _, pkg := range []string{"express", "ws"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			return "", "", fmt.Errorf("nodeserver: package %s is not installed in %s (run: npm ci --prefix internal/nodeserver)", pkg, dir)
		}
	}
	return node, dir, nil
}

// signal sends sig unless the process has already gone.
func (p *proc) signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("nodeserver: signalling node: %w", err)
	}
	return nil
}

// kill sends SIGKILL and returns once the process and its goroutine are gone.
func (p *proc) kill() error {
	err := p.signal(syscall.SIGKILL)
	_ = p.stdin.Close()
	<-p.done
	return err
}

// failure describes a process that exited before announcing its address.
func (p *proc) failure() error {
	msg := strings.TrimSpace(p.stderr.String())
	if strings.Contains(msg, "Cannot find module") {
		return fmt.Errorf("nodeserver: node cannot load its packages (run: npm ci --prefix internal/nodeserver): %v: %s", p.err, msg)
	}
	return fmt.Errorf("nodeserver: node exited before listening: %v: %s", p.err, msg)
}

// tail keeps the last max bytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write implements io.Writer; it never fails.
func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// String returns what the buffer holds.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lenient hides a destination's write errors, so a broken writer (a test's
// output after the test ended, say) never stops the process's pipes from
// being drained.
type lenient struct{ w io.Writer }

// Write implements io.Writer; it always reports success.
func (l lenient) Write(b []byte) (int, error) {
	_, _ = l.w.Write(b)
	return len(b), nil
}
