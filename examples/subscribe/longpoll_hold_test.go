package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/transport"
)

func TestFlags_longpollHold(t *testing.T) {
	const u = "http://127.0.0.1:1/long"
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"-longpoll", u}, transport.DefaultLongPollHold},
		{[]string{"-longpoll", u, "-longpoll-hold", "5s"}, 5 * time.Second},
		{[]string{"-longpoll", u, "-longpoll-hold", "250ms"}, 250 * time.Millisecond},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		trs := o.config().Transports
		lp, ok := trs[0].(*transport.LongPoll)
		if len(trs) != 1 || !ok || lp.Hold != tc.want {
			t.Fatalf("%q: transports %#v, want a LongPoll holding %v", tc.args, trs, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1s", "soon"} {
		if _, err := parseFlags([]string{"-longpoll", u, "-longpoll-hold", bad}, io.Discard); err == nil {
			t.Errorf("-longpoll-hold %s accepted", bad)
		}
	}
}

// A long-poll server that never answers is left after the hold plus the
// heartbeat timeout: with -longpoll-hold 200ms and -heartbeat 300ms (a
// timeout of 200ms), after 400ms instead of the default hold's 30s.
func TestBinary_longpollHoldBoundsADeadServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // holds every request for ever
	}))
	t.Cleanup(srv.Close)

	start := time.Now()
	code, stdout, stderr := runBinary(t, "-json", "-longpoll", srv.URL, "-longpoll-hold", "200ms",
		"-heartbeat", "300ms", "-max-attempts", "1")
	took := time.Since(start)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "within 400ms") {
		t.Fatalf("the failure does not name the 400ms deadline; stderr:\n%s", stderr)
	}
	if took > 15*time.Second {
		t.Fatalf("the run took %v", took)
	}
}
