package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv, when set, makes the test binary a server process for the idle
// benchmarks, so that the server's goroutines and memory are not counted
// with the clients'.
const childEnv = "ANYSUB_BENCH_SERVER"

// serveChild runs the server until stdin closes; it prints its URL first.
func serveChild() {
	srv := newServer(&childTB{}, nil)
	fmt.Println(srv.URL)
	io.Copy(io.Discard, os.Stdin)
	srv.CloseClientConnections()
	srv.Close()
}

// childTB is enough of a testing.TB for newServer outside a test.
type childTB struct{ testing.TB }

func (*childTB) Helper()          {}
func (*childTB) Cleanup(f func()) {}

// startChild starts the server process and returns its URL; it stops with tb.
func startChild(tb testing.TB) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("server process: %v", err)
	}
	return strings.TrimSpace(line)
}
