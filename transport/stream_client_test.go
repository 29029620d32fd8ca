package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
	"sync"
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
