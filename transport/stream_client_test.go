package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
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
