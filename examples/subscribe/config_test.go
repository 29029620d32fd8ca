package main

import (
	"strings"
	"testing"
)

// Settings that no request could ever carry are bad flags (exit 2) at once,
// not an endless loop of retries or a failure found late on the ladder.
func TestBinary_invalidConfigExitsTwo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"CRLF in a header value", []string{"-sse", "http://127.0.0.1:1/sse", "-header", "X-Test: a\r\nInjected: 1"}},
		{"bare LF in a header value", []string{"-sse", "http://127.0.0.1:1/sse", "-header", "X-Test: a\nb"}},
		{"LF in a header name", []string{"-sse", "http://127.0.0.1:1/sse", "-header", "X-Te\nst: a"}},
		{"bad URL on a lower rung", []string{"-ws", "ws://127.0.0.1:1/ws", "-sse", "htp://127.0.0.1:1/sse", "-longpoll", "http://127.0.0.1:1/long"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runBinary(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if strings.Contains(stderr, "retry in") {
				t.Fatalf("it tried to connect:\n%s", stderr)
			}
		})
	}
}

// A flag mistake gets one line saying what is wrong and a hint, not the
// whole usage; -h gets the whole text, which says how the demo starts.
func TestBinary_flagErrorsAreShortAndHelpIsWhole(t *testing.T) {
	code, _, stderr := runBinary(t, "-bogus")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || len(lines) != 2 || !strings.Contains(lines[0], "-bogus") || !strings.Contains(lines[1], "subscribe -h") {
		t.Fatalf("exit %d, stderr:\n%s\nwant 2 lines: the error and a hint", code, stderr)
	}
	code, _, stderr = runBinary(t, "-h")
	for _, want := range []string{"no transport flag", "runs the demo", "-ws accepts", "http and https", "go run", "-socketio"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("-h (exit %d) does not say %q:\n%s", code, want, stderr)
		}
	}
	if code != 0 || strings.Contains(stderr, "run 'subscribe -h'") {
		t.Fatalf("-h: exit %d, stderr:\n%s", code, stderr)
	}
}
