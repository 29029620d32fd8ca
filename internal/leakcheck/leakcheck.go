// Package leakcheck fails a test binary whose tests leave goroutines behind.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
//
// Tests that use their own http.Transport close its idle connections
// themselves. It is a few dozen lines on runtime.Stack rather than a dependency: the
// project needs only "did any goroutine started by the tests survive them".
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Grace is how long Check waits for goroutines that are already on their way
// out (a closed connection's last read returning, say) before it reports them.
const Grace = 5 * time.Second

// Main runs the tests and then fails the binary if goroutines leaked.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Idle keep-alive connections of the default transport belong to the
		// process, not to a test; a response body left open is not idle and
		// still shows up below.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if leaked := Check(Grace); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Check returns the stacks of goroutines that are not part of the runtime or
// the testing framework, waiting up to grace for them to finish. It returns
// "" when none remain.
func Check(grace time.Duration) string {
	deadline := time.Now().Add(grace)
	backoff := time.Millisecond
	for {
		leaked := interesting()
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(backoff) // polling a condition with a deadline, not synchronising
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// interesting lists the stacks of goroutines other than the caller and the
// ones the runtime and the test framework keep.
func interesting() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || ignored(g) { // the first is the calling goroutine
			continue
		}
		out = append(out, g)
	}
	return out
}

func ignored(stack string) bool {
	for _, s := range []string{
		"testing.RunTests",
		"testing.(*T).Run",
		"testing.(*M).",
		"testing.runFuzzing",
		"runtime.goexit0",
		"os/signal.signal_recv",
		"os/signal.loop",
		"runtime.ensureSigM",
		"created by runtime.gc",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
