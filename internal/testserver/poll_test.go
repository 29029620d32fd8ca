package testserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestPoll_body(t *testing.T) {
	for _, path := range []string{PathPoll, PathLongPoll} {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{LongPollHold: 10 * time.Millisecond})
			s.Publish("tick", []byte(`{"n": 1}`))
			s.Publish("", []byte("<x>"))
			resp := get(t, testCtx(t), newClient(t), s.URL()+path, nil)
			body := readBody(t, resp, http.StatusOK)
			want := `[{"id":"1","event":"tick","data":{"n":1}},{"id":"2","data":"<x>"}]`
			if string(body) != want {
				t.Fatalf("body %s, want %s", body, want)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
		})
	}
}

func TestPoll_MaxBatch(t *testing.T) {
	for _, path := range []string{PathPoll, PathLongPoll} {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{MaxBatch: 2, LongPollHold: 10 * time.Millisecond})
			for range 5 {
				s.Publish("", nil)
			}
			c := newClient(t)
			cursor := ""
			for _, want := range [][]string{{"1", "2"}, {"3", "4"}, {"5"}, {}} {
				resp := get(t, testCtx(t), c, s.URL()+path+"?since="+cursor, nil)
				got := ids(decodeList(t, readBody(t, resp, http.StatusOK)))
				if !slices.Equal(got, want) {
					t.Fatalf("since %q: got %v, want %v", cursor, got, want)
				}
				if len(got) > 0 {
					cursor = got[len(got)-1]
				}
			}
		})
	}
}

func TestLongPoll_holdsUntilPublish(t *testing.T) {
	s := newServer(t, Options{LongPollHold: wait})
	s.Publish("", nil)
	res := goGet(t, newClient(t), s.LongPollURL()+"?since=1")
	if err := s.WaitLive(testCtx(t), PathLongPoll, 1); err != nil {
		t.Fatal(err)
	}
	s.Publish("news", []byte("2"))
	r := result(t, res)
	if r.err != nil || r.status != 200 || string(r.body) != `[{"id":"2","event":"news","data":2}]` {
		t.Fatalf("got %d %q %v", r.status, r.body, r.err)
	}
}

func TestLongPoll_emptyAfterHold(t *testing.T) {
	const hold = 50 * time.Millisecond
	s := newServer(t, Options{LongPollHold: hold})
	start := time.Now()
	resp := get(t, testCtx(t), newClient(t), s.LongPollURL(), nil)
	if body := readBody(t, resp, http.StatusOK); string(body) != "[]" {
		t.Fatalf("body %q, want []", body)
	}
	if d := time.Since(start); d < hold {
		t.Errorf("answered after %v, before the hold of %v", d, hold)
	}
}

func TestPoll_emptyAtOnce(t *testing.T) {
	s := newServer(t, Options{LongPollHold: wait})
	s.Publish("", nil)
	// /poll never holds: with a hold of wait, a held answer would time out.
	resp := get(t, testCtx(t), newClient(t), s.PollURL()+"?since=1", nil)
	if body := readBody(t, resp, http.StatusOK); string(body) != "[]" {
		t.Fatalf("body %q, want []", body)
	}
}

func TestLongPoll_clientGoneEndsHandler(t *testing.T) {
	s := newServer(t, Options{LongPollHold: wait})
	ctx := testCtx(t)
	reqCtx, cancel := context.WithCancel(ctx)
	res := goGetCtx(t, reqCtx, newClient(t), s.LongPollURL())
	if err := s.WaitLive(ctx, PathLongPoll, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if r := result(t, res); r.err == nil {
		t.Fatalf("cancelled request answered %d", r.status)
	}
	if err := s.waitCond(ctx, true, func() bool { return s.paths[PathLongPoll].live == 0 }); err != nil {
		t.Fatalf("held request still live after the client left: %v", err)
	}
}

func TestPoll_Stall(t *testing.T) {
	for _, path := range []string{PathPoll, PathLongPoll} {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{LongPollHold: 5 * time.Millisecond})
			s.Publish("", nil)
			s.Stall(path, true)
			res := goGet(t, newClient(t), s.URL()+path)
			if err := s.WaitLive(testCtx(t), path, 1); err != nil {
				t.Fatal(err)
			}
			s.Publish("", nil)
			select {
			case r := <-res:
				t.Fatalf("stalled request answered %d %q %v", r.status, r.body, r.err)
			case <-time.After(quiet):
			}
			if n := s.DropAll(); n != 1 {
				t.Errorf("DropAll = %d, want 1", n)
			}
			if r := result(t, res); r.err == nil {
				t.Fatalf("cut request answered %d %q", r.status, r.body)
			}
			s.Stall(path, false)
			resp := get(t, testCtx(t), newClient(t), s.URL()+path, nil)
			if got := ids(decodeList(t, readBody(t, resp, 200))); !slices.Equal(got, []string{"1", "2"}) {
				t.Errorf("after Stall off got %v", got)
			}
		})
	}
}

func TestPoll_retentionGap(t *testing.T) {
	s := newServer(t, Options{Retention: 3})
	for i := range 10 {
		s.Publish("", fmt.Appendf(nil, "%d", i))
	}
	resp := get(t, testCtx(t), newClient(t), s.PollURL()+"?since=2", nil)
	if got := ids(decodeList(t, readBody(t, resp, 200))); !slices.Equal(got, []string{"8", "9", "10"}) {
		t.Fatalf("got %v, want the retained 8, 9, 10", got)
	}
}
