package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// TestHTTPStream_skipsOversizedValue: a 3 MiB value in a stream, under the
// default 1 MiB limit, fails each attempt at the same cursor with its id
// known, so the client skips it with an EventSkipped and resumes after
// it: the messages around it arrive, once each. No attempt holds more than
// about the limit of the value: the heap allocated over the whole run (three
// failed attempts and a good one, server included: about 9 MiB) stays below
// 16 MiB, where buffering the value whole at each attempt would take some
// 8 MiB of doubling buffers per attempt.
func TestHTTPStream_skipsOversizedValue(t *testing.T) {
	big := []byte(`{"id":"2","data":"` + strings.Repeat("x", 3<<20) + `"}` + "\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		switch r.URL.Query().Get("since") {
		case "":
			fmt.Fprint(w, `{"id":"1","data":"a"}`+"\n")
			fallthrough
		case "1":
			w.Write(big)
			fallthrough
		default:
			fmt.Fprint(w, `{"id":"3","data":"c"}`+"\n")
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := heapAllocs()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.HTTPStream{URL: srv.URL}},
		Backoff:    backoff.Linear{Initial: time.Millisecond, Step: time.Millisecond, Max: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	for len(got) < 2 {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.ID+"="+string(m.Data))
	}
	allocated := heapAllocs() - before
	if strings.Join(got, " ") != `1="a" 3="c"` {
		t.Fatalf("got %q", got)
	}
	if s := sub.Stats(); s.Skipped != 1 {
		t.Fatalf("stats %+v, want one message skipped", s)
	}
	for {
		select {
		case e := <-sub.Events():
			if e.Kind != client.EventSkipped {
				continue
			}
			if e.ID != "2" || !strings.Contains(e.Err.Error(), "message too large") {
				t.Fatalf("skipped event %+v", e)
			}
			t.Logf("heap allocated over the run: %.1f MiB", float64(allocated)/(1<<20))
			if allocated > 16<<20 {
				t.Fatalf("allocated %d bytes to skip a 3 MiB value three times", allocated)
			}
			return
		case <-ctx.Done():
			t.Fatal("no EventSkipped")
		}
	}
}

func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestPoll_wholeState: a server that answers every poll with its whole
// state, items without ids, while items are appended: with Fields.Key each
// item is delivered once, in order, over 100 polls, and the cursor never
// moves (no poll carries since=).
func TestPoll_wholeState(t *testing.T) {
	var (
		mu    sync.Mutex
		items []string
		polls int
		since int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		if r.URL.Query().Has("since") {
			since++
		}
		if polls%3 == 1 && polls < 100 {
			items = append(items, fmt.Sprintf(`{"user":"u%d","text":"t%d"}`, polls%4, polls))
		}
		fmt.Fprintf(w, `{"msg":[%s]}`, strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.Poll{URL: srv.URL, Interval: time.Millisecond}},
		Decoder:    transport.Fields{Items: "msg", Key: "user,text"}.Decoder(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []string
	for len(got) < 33 {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Data))
	}
	for { // until the server has answered 100 polls
		mu.Lock()
		n := polls
		mu.Unlock()
		if n >= 100 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Millisecond): // polling the count, bounded by ctx
		}
	}
	mu.Lock()
	want := append([]string(nil), items...)
	sinces := since
	mu.Unlock()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %d items %q\nwant %d %q", len(got), got, len(want), want)
	}
	if s := sub.Stats(); s.Messages != uint64(len(want)) || sinces != 0 || sub.Cursor() != "" {
		t.Fatalf("stats %+v, %d polls with since, cursor %q", s, sinces, sub.Cursor())
	}
}

// ladderLog is one message log served as SSE on /sse (resuming from
// Last-Event-ID) and as an NDJSON stream on /stream (resuming from
// since=), with SSE answering 404 while sseDown is set.
type ladderLog struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced on every publish
	sseDown atomic.Bool
}

func (l *ladderLog) publish(k int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += k
	close(l.changed)
	l.changed = make(chan struct{})
}

// serve writes the messages after `after` with line, as they come, until
// the request ends.
func (l *ladderLog) serve(w http.ResponseWriter, r *http.Request, after int, line func(i int) string) {
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		l.mu.Lock()
		n, changed := l.n, l.changed
		l.mu.Unlock()
		for ; after < n; after++ {
			fmt.Fprint(w, line(after+1))
		}
		w.(http.Flusher).Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (l *ladderLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sse":
		if l.sseDown.Load() {
			http.NotFound(w, r)
			return
		}
		after, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
		w.Header().Set("Content-Type", "text/event-stream")
		l.serve(w, r, after, func(i int) string { return fmt.Sprintf("id: %d\ndata: {\"n\":%d}\n\n", i, i) })
	case "/stream":
		after, _ := strconv.Atoi(r.URL.Query().Get("since"))
		l.serve(w, r, after, func(i int) string { return fmt.Sprintf(`{"id":%d,"data":{"n":%d}}`+"\n", i, i) })
	default:
		http.NotFound(w, r)
	}
}

// TestHTTPStream_ladder: the stream rung below SSE. With SSE refused the
// subscription moves down to the stream at once; once SSE is back, a probe
// moves it up again. Every message arrives once, in order, across both
// moves, and the stream's own messages are decoded like SSE's.
func TestHTTPStream_ladder(t *testing.T) {
	log := &ladderLog{changed: make(chan struct{})}
	log.sseDown.Store(true)
	srv := httptest.NewServer(log)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{
			&transport.SSE{URL: srv.URL + "/sse"},
			&transport.HTTPStream{URL: srv.URL + "/stream"},
		},
		Backoff:         backoff.Linear{Initial: time.Millisecond, Step: time.Millisecond, Max: 5 * time.Millisecond},
		UpgradeInterval: 20 * time.Millisecond,
		EventBuffer:     1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	next := 1
	read := func(k int, want string) {
		t.Helper()
		for range k {
			m, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != strconv.Itoa(next) || string(m.Data) != fmt.Sprintf(`{"n":%d}`, next) {
				t.Fatalf("message %s %s, want id %d", m.ID, m.Data, next)
			}
			if want != "" && m.Transport != want {
				t.Fatalf("message %s over %s, want %s", m.ID, m.Transport, want)
			}
			next++
		}
	}
	waitFor := func(kind client.EventKind, from, to string) {
		t.Helper()
		for {
			select {
			case e := <-sub.Events():
				if e.Kind == kind && e.From == from && e.To == to {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %v from %s to %s", kind, from, to)
			}
		}
	}

	log.publish(5)
	waitFor(client.EventDowngraded, transport.NameSSE, transport.NameStream)
	read(5, transport.NameStream)
	// SSE is back: a probe proves it live with the first message it
	// delivers, so messages go on coming one at a time until one has.
	log.sseDown.Store(false)
	for upgraded := false; !upgraded; {
		log.publish(1)
		read(1, "")
		for drained := false; !drained && !upgraded; {
			select {
			case e := <-sub.Events():
				upgraded = e.Kind == client.EventUpgraded && e.From == transport.NameStream && e.To == transport.NameSSE
			default:
				drained = true
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no upgrade from stream to sse")
		}
	}
	log.publish(5)
	read(5, transport.NameSSE)
	if s := sub.Stats(); s.Messages != uint64(next-1) || s.Gaps != 0 || s.Resets != 0 || s.Upgrades != 1 || s.Downgrades != 1 {
		t.Fatalf("stats %+v", s)
	}
}
