package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/transport"
)

// restartingSSE is an SSE server whose log can be replaced by a fresh one,
// as a server restarted without its data: ids start again at 1. Like many
// simple servers it ignores Last-Event-ID and sends its whole log on every
// connection, then what is published; it sends a comment every 10ms.
type restartingSSE struct {
	mu    sync.Mutex
	gen   int
	log   []string // data of each message; the id is the index + 1
	drop  chan struct{}
	grown chan struct{}
}

func newRestartingSSE() *restartingSSE {
	return &restartingSSE{drop: make(chan struct{}), grown: make(chan struct{})}
}

func (r *restartingSSE) publish(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.log = append(r.log, fmt.Sprintf("gen%d-msg%d", r.gen, len(r.log)+1))
	}
	close(r.grown)
	r.grown = make(chan struct{})
}

// restart replaces the log with an empty one and cuts every stream.
func (r *restartingSSE) restart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.log = nil
	r.cut()
}

// dropAll cuts every stream, keeping the log.
func (r *restartingSSE) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut()
}

func (r *restartingSSE) cut() {
	close(r.drop)
	r.drop = make(chan struct{})
}

func (r *restartingSSE) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	next := 0
	r.mu.Lock()
	drop := r.drop
	r.mu.Unlock()
	keepAlive := time.NewTicker(10 * time.Millisecond)
	defer keepAlive.Stop()
	for {
		select {
		case <-drop: // a drop wins over anything published after it
			return
		default:
		}
		r.mu.Lock()
		pending := slices.Clone(r.log[next:])
		grown := r.grown
		r.mu.Unlock()
		for _, d := range pending {
			next++
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", next, d)
		}
		w.(http.Flusher).Flush()
		select {
		case <-grown:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-drop:
			return
		case <-req.Context().Done():
			return
		}
	}
}

func TestReset_restartedLogIsDeliveredAndReported(t *testing.T) {
	ctx := testCtx(t)
	srv := newRestartingSSE()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		// Cut what is left before waiting for the handlers, so that a
		// stream the client failed to close shows up as a goroutine leak
		// (TestMain's check) instead of a hang in Close.
		hs.CloseClientConnections()
		hs.Close()
	})
	cfg := testConfig(&transport.SSE{URL: hs.URL})
	cfg.EventBuffer = 256
	sub := subscribe(t, cfg)

	srv.publish(5)
	first := receive(t, ctx, sub, 5)
	// A plain reconnect: the whole log again, every message a duplicate.
	srv.dropAll()
	srv.publish(1)
	if m := receive(t, ctx, sub, 1)[0]; m.ID != "6" {
		t.Fatalf("after a reconnect got %s, want 6", m.ID)
	}
	if st := sub.Stats(); st.Duplicates != 5 || st.Resets != 0 {
		t.Fatalf("stats %+v, want the 5 replayed as duplicates", st)
	}
	srv.restart()
	srv.publish(5) // the fresh log's 1-5: same ids, other messages
	second := receive(t, ctx, sub, 5)
	var got []string
	for _, m := range append(first, second...) {
		got = append(got, m.ID+"="+string(m.Data))
	}
	want := []string{"1=gen0-msg1", "2=gen0-msg2", "3=gen0-msg3", "4=gen0-msg4", "5=gen0-msg5",
		"1=gen1-msg1", "2=gen1-msg2", "3=gen1-msg3", "4=gen1-msg4", "5=gen1-msg5"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if st := sub.Stats(); st.Resets != 1 || st.Duplicates != 5 {
		t.Fatalf("stats %+v, want one reset and no more duplicates", st)
	}
	sub.Close()
	var resets []Event
	for e := range sub.Events() {
		if e.Kind == EventReset {
			resets = append(resets, e)
		}
	}
	if len(resets) != 1 || resets[0].ID != "1" {
		t.Fatalf("reset events %v, want one naming id 1", resets)
	}
}

func TestReset_sameMessageReplayedIsStillADuplicate(t *testing.T) {
	d := newDedupe(8)
	m := Message{ID: "1", Event: "e", Data: []byte("x")}
	d.add("1", d.markOf(&m, 0))
	for _, tc := range []struct {
		name        string
		msg         Message
		rung        int
		dup, reused bool
	}{
		{"same message, same rung", m, 0, true, false},
		{"same message, other rung", m, 1, true, false},
		{"other data, other rung (framed differently)", Message{ID: "1", Event: "e", Data: []byte(`"x"`)}, 1, true, false},
		{"other data, same rung", Message{ID: "1", Event: "e", Data: []byte("y")}, 0, false, true},
		{"other event, same rung", Message{ID: "1", Event: "f", Data: []byte("x")}, 0, false, true},
		{"unknown id", Message{ID: "2", Data: []byte("x")}, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dup, reused := d.check(tc.msg.ID, d.markOf(&tc.msg, tc.rung))
			if dup != tc.dup || reused != tc.reused {
				t.Fatalf("check = %v, %v; want %v, %v", dup, reused, tc.dup, tc.reused)
			}
		})
	}
	// The configured cursor and local copies match anything.
	d.add("9", mark{rung: anyRung})
	if dup, _ := d.check("9", d.markOf(&Message{ID: "9", Data: []byte("z")}, 0)); !dup {
		t.Fatal("an id of unknown content must count as seen")
	}
}

func TestPoison_oversizedMessageWithIDIsSkipped(t *testing.T) {
	for _, r := range rungs {
		t.Run(r.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t)
			cfg := testConfig(r.make(srv))
			cfg.MaxMessageSize = 1024
			cfg.EventBuffer = 256
			sub := subscribe(t, cfg)
			publish(srv, 2)
			checkSequence(t, receive(t, ctx, sub, 2), 1)
			// Message 3 is too large and stays in the log: every attempt
			// from cursor 2 meets it first.
			srv.Publish("big", []byte(`"`+string(make([]byte, 0))+bigString(4096)+`"`))
			publish(srv, 2)
			got := receive(t, ctx, sub, 2)
			checkSequence(t, got, 4)
			if st := sub.Stats(); st.Skipped != 1 {
				t.Fatalf("stats %+v, want one skipped", st)
			}
			sub.Close()
			var skipped []Event
			for e := range sub.Events() {
				if e.Kind == EventSkipped {
					skipped = append(skipped, e)
				}
			}
			if len(skipped) != 1 || skipped[0].ID != "3" || !errors.Is(skipped[0].Err, transport.ErrMessageTooLarge) {
				t.Fatalf("skipped events %v, want one for id 3", skipped)
			}
		})
	}
}

func TestPoison_oversizedMessageWithoutIDEndsTheSubscription(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t)
	cfg := testConfig(&transport.SSE{URL: srv.SSEURL()})
	cfg.MaxMessageSize = 1024
	sub := subscribe(t, cfg)
	publish(srv, 1)
	receive(t, ctx, sub, 1)
	srv.Publish("big", []byte(`"`+bigString(200<<10)+`"`)) // past the parser's own bound too
	publish(srv, 1)
	start := time.Now()
	_, err := sub.Next(ctx)
	var stuck *StuckError
	if !errors.As(err, &stuck) || stuck.Cursor != "1" || !errors.Is(err, transport.ErrPermanent) || !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Fatalf("Next = %v, want a *StuckError after id 1", err)
	}
	t.Logf("ended after %v: %v", time.Since(start), err)
}

func bigString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

var _ = context.Background
