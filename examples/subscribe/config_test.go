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
