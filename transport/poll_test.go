package transport

import (
	"context"
	"net"
	"testing"
	"time"
)

// This file checks Poll's pacing: the pause between requests and its
// interruption. The shared polling suite is in httppoll_test.go.

func TestPoll_Next_waitsInterval(t *testing.T) {
	srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), pollReplyJSON(`[{"id":2}]`))
	st := pollMustOpen(t, &Poll{URL: srv.URL, Interval: time.Hour}, Request{})
	var waits []time.Duration
	st.(*pollStream).waitHook = func(d time.Duration) { waits = append(waits, d) }

	expectPollMessages(t, st, "1||")
	// A bare context, so that only the caller's deadline can end the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := st.Next(ctx)
	expectPollError(t, err, Transient, "read", context.DeadlineExceeded)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Next returned %v after its context ended", d)
	}
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("server saw %d requests before the interval passed, want 1", n)
	}
	if len(waits) != 1 || waits[0] > time.Hour || waits[0] < time.Hour-time.Minute {
		t.Errorf("waits = %v, want one of about 1h", waits)
	}
	pollCloseWithin(t, st)
}

func TestPoll_Close_interruptsWait(t *testing.T) {
	srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), pollReplyJSON(`[{"id":2}]`))
	st := pollMustOpen(t, &Poll{URL: srv.URL, Interval: time.Hour}, Request{})
	waiting := make(chan struct{})
	st.(*pollStream).waitHook = func(time.Duration) { close(waiting) }
	expectPollMessages(t, st, "1||")

	ctx := pollCtx(t)
	result := make(chan error, 1)
	go func() {
		_, err := st.Next(ctx)
		result <- err
	}()
	select {
	case <-waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("Next never started waiting")
	}
	pollCloseWithin(t, st)
	select {
	case err := <-result:
		expectPollError(t, err, Transient, "read", net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestPoll_Next_spacesRequests(t *testing.T) {
	const interval = 30 * time.Millisecond
	srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), pollReplyJSON(`[]`), pollReplyJSON(`[{"id":2}]`))
	st := pollMustOpen(t, &Poll{URL: srv.URL, Interval: interval}, Request{})
	expectPollMessages(t, st, "1||", "2||")
	seen := srv.requests()
	if len(seen) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if gap := seen[i].at.Sub(seen[i-1].at); gap < interval {
			t.Errorf("request %d came %v after the previous one, want at least %v", i, gap, interval)
		}
	}
}

func TestPoll_spec(t *testing.T) {
	tests := []struct {
		name         string
		poll         Poll
		hb           Heartbeat
		wantInterval time.Duration
		wantTimeout  time.Duration
	}{
		{"defaults", Poll{}, Heartbeat{}, 2 * time.Second, 30 * time.Second},
		{"heartbeat", Poll{Interval: time.Second}, Heartbeat{Interval: 3 * time.Second, Timeout: time.Second}, time.Second, 4 * time.Second},
		{"half heartbeat is off", Poll{Interval: -1}, Heartbeat{Timeout: time.Second}, 2 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.poll.spec(Request{Heartbeat: tt.hb})
			if s.interval != tt.wantInterval || s.timeout != tt.wantTimeout || s.name != NamePoll {
				t.Errorf("spec = %+v, want interval %v timeout %v", s, tt.wantInterval, tt.wantTimeout)
			}
		})
	}
	if got := (&Poll{}).Name(); got != NamePoll {
		t.Errorf("Name() = %q", got)
	}
}
