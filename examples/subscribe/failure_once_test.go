package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The failure that ends a subscription is printed once, as the last line,
// in one plain sentence: not once as an event and again by the command.
func TestBinary_finalFailurePrintedOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	const text = "sse: server answered 400 Bad Request"

	code, stdout, stderr := runBinary(t, "-sse", srv.URL)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if n := strings.Count(stderr, "400"); n != 1 {
		t.Errorf("the failure is told %d times; stderr:\n%s", n, stderr)
	}
	if last := lines[len(lines)-1]; last != "subscribe: subscription failed: "+text {
		t.Errorf("last line %q; stderr:\n%s", last, stderr)
	}

	code, stdout, stderr = runBinary(t, "-json", "-sse", srv.URL)
	if code != 1 || stdout != "" {
		t.Fatalf("-json: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "400"); n != 1 {
		t.Errorf("-json: the failure is told %d times; stderr:\n%s", n, stderr)
	}
	lines = strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last, ok := parseState(lines[len(lines)-1])
	if !ok || last.State != "failed" || last.Error != text || last.Time == "" {
		t.Errorf("-json: last line %+v; stderr:\n%s", last, stderr)
	}
}
