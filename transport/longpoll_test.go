package transport

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// This file checks what is particular to LongPoll: held requests, their
// interruption, and its request deadline.

// pollReceive waits for a value on ch, failing the test after a bound.
func pollReceive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestLongPoll_Next_heldUntilPublish(t *testing.T) {
	arrived := make(chan url.Values, 8)
	publish := make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Query()
		if !r.URL.Query().Has("since") {
			pollReplyJSON(`[{"id":1,"data":"first"}]`)(w, r)
			return
		}
		select {
		case id := <-publish:
			pollReplyJSON(fmt.Sprintf(`[{"id":%s,"data":"published"}]`, id))(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)

	st := pollMustOpen(t, &LongPoll{URL: srv.URL, Hold: 5 * time.Second}, Request{})
	st.(*pollStream).waitHook = func(d time.Duration) { t.Errorf("long poll paused %v between requests", d) }
	if q := pollReceive(t, arrived, "the first request"); q.Has("since") {
		t.Fatalf("first request carries since=%q", q.Get("since"))
	}
	expectPollMessages(t, st, `1||"first"`)

	for _, c := range []struct{ since, id string }{{"1", "2"}, {"2", "3"}} {
		id := c.id
		ctx := pollCtx(t)
		result := make(chan Message, 1)
		go func() {
			m, err := st.Next(ctx)
			if err != nil {
				t.Errorf("Next: %v", err)
			}
			result <- m
		}()
		q := pollReceive(t, arrived, "a held request")
		select {
		case m := <-result:
			t.Fatalf("Next returned %q while the server was still holding", pollMsgString(m))
		default:
		}
		if got := q.Get("since"); got != c.since {
			t.Fatalf("held request has since=%q, want %q", got, c.since)
		}
		publish <- id
		if m := pollReceive(t, result, "the published message"); m.ID != id {
			t.Fatalf("got message %q, want id %s", pollMsgString(m), id)
		}
	}
}

func TestLongPoll_Close_interruptsHeldRequest(t *testing.T) {
	held := make(chan struct{})
	handlerDone := make(chan struct{})
	srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), func(_ http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		close(held)
		<-r.Context().Done()
	})
	st := pollMustOpen(t, &LongPoll{URL: srv.URL, Hold: time.Hour}, Request{})
	expectPollMessages(t, st, "1||")

	ctx := pollCtx(t)
	result := make(chan error, 1)
	go func() {
		_, err := st.Next(ctx)
		result <- err
	}()
	pollReceive(t, held, "the held request")
	pollCloseWithin(t, st)
	expectPollError(t, pollReceive(t, result, "Next to return"), Transient, "read", net.ErrClosed)
	pollReceive(t, handlerDone, "the server to see the request cancelled")
}

func TestLongPoll_Next_ctxCancelInterruptsHeldRequest(t *testing.T) {
	held := make(chan struct{})
	srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), func(_ http.ResponseWriter, r *http.Request) {
		close(held)
		<-r.Context().Done()
	})
	st := pollMustOpen(t, &LongPoll{URL: srv.URL, Hold: time.Hour}, Request{})
	expectPollMessages(t, st, "1||")

	ctx, cancel := context.WithCancel(pollCtx(t))
	result := make(chan error, 1)
	go func() {
		_, err := st.Next(ctx)
		result <- err
	}()
	pollReceive(t, held, "the held request")
	cancel()
	expectPollError(t, pollReceive(t, result, "Next to return"), Transient, "read", context.Canceled)
}

func TestLongPoll_spec(t *testing.T) {
	tests := []struct {
		name        string
		lp          LongPoll
		hb          Heartbeat
		wantTimeout time.Duration
	}{
		{"defaults", LongPoll{}, Heartbeat{}, 40 * time.Second},
		{"hold and heartbeat", LongPoll{Hold: 5 * time.Second}, Heartbeat{Interval: time.Second, Timeout: 2 * time.Second}, 7 * time.Second},
		{"heartbeat off", LongPoll{Hold: 5 * time.Second}, Heartbeat{Timeout: 2 * time.Second}, 15 * time.Second},
		{"negative hold", LongPoll{Hold: -time.Second}, Heartbeat{}, 40 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.lp.spec(Request{Heartbeat: tt.hb})
			if s.timeout != tt.wantTimeout || s.interval != 0 || s.name != NameLongPoll {
				t.Errorf("spec = %+v, want timeout %v and no interval", s, tt.wantTimeout)
			}
		})
	}
	if got := (&LongPoll{}).Name(); got != NameLongPoll {
		t.Errorf("Name() = %q", got)
	}
}

func TestLongPoll_Next_pacesAServerThatDoesNotHold(t *testing.T) {
	for _, c := range []struct {
		name   string
		gap    time.Duration
		paused bool
	}{{"default", 0, true}, {"off", -1, false}} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Answers at once: empty for the first four requests
				// (Open's included), then one message.
				if requests.Add(1) <= 4 {
					pollReplyJSON(`[]`)(w, r)
					return
				}
				pollReplyJSON(`[{"id":9,"data":"late"}]`)(w, r)
			}))
			t.Cleanup(srv.Close)

			st := pollMustOpen(t, &LongPoll{URL: srv.URL, Hold: 5 * time.Second, MinEmptyInterval: c.gap}, Request{})
			var waits []time.Duration
			st.(*pollStream).waitHook = func(d time.Duration) { waits = append(waits, d) }
			expectPollMessages(t, st, `9||"late"`)
			if !c.paused {
				if len(waits) != 0 {
					t.Fatalf("paused %v with the gap turned off", waits)
				}
				return
			}
			if len(waits) != 4 {
				t.Fatalf("paused %d times (%v), want once after each of 4 empty answers", len(waits), waits)
			}
			for _, d := range waits {
				if d <= 0 || d > defaultMinEmptyInterval {
					t.Fatalf("pause %v outside (0, %v]", d, defaultMinEmptyInterval)
				}
			}
		})
	}
}
