package testserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaults_FailNext(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		wantRetry  string
	}{
		{"503 with Retry-After rounded up", 503, 1500 * time.Millisecond, "2"},
		{"429 whole seconds", 429, 3 * time.Second, "3"},
		{"500 without Retry-After", 500, 0, ""},
	}
	for _, path := range allPaths {
		t.Run(path, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newServer(t, Options{LongPollHold: 5 * time.Millisecond, KeepAlive: -1})
					s.FailNext(path, 2, tt.status, tt.retryAfter)
					for i := range 2 {
						status, hdr := probe(t, s, path, "", nil)
						if status != tt.status || hdr.Get("Retry-After") != tt.wantRetry {
							t.Fatalf("request %d: status %d, Retry-After %q; want %d, %q",
								i+1, status, hdr.Get("Retry-After"), tt.status, tt.wantRetry)
						}
					}
					if status, _ := probe(t, s, path, "", nil); status != http.StatusOK {
						t.Fatalf("third request: status %d, want 200", status)
					}
					if n := s.Requests(path); n != 3 {
						t.Errorf("Requests = %d, want 3", n)
					}
				})
			}
		})
	}
}

func TestFaults_endOfStreamStatuses(t *testing.T) {
	tests := []struct {
		path   string
		status int
	}{
		{PathSSE, http.StatusNoContent},
		{PathLongPoll, http.StatusGone},
		{PathPoll, http.StatusGone},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			s := newServer(t, Options{})
			s.FailNext(tt.path, 1, tt.status, 0)
			resp := get(t, testCtx(t), newClient(t), s.URL()+tt.path, nil)
			body := readBody(t, resp, tt.status)
			if tt.status == http.StatusNoContent && len(body) != 0 {
				t.Errorf("204 with body %q", body)
			}
		})
	}
}

func TestFaults_Disable(t *testing.T) {
	for _, path := range allPaths {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{LongPollHold: 5 * time.Millisecond, KeepAlive: -1})
			s.Disable(path, http.StatusNotFound)
			s.FailNext(path, 1, 503, 0) // Disable wins and leaves it pending
			for range 3 {
				if status, _ := probe(t, s, path, "", nil); status != http.StatusNotFound {
					t.Fatalf("status %d, want 404", status)
				}
			}
			s.Disable(path, 0)
			if status, _ := probe(t, s, path, "", nil); status != 503 {
				t.Fatalf("status %d, want the pending 503", status)
			}
			if status, _ := probe(t, s, path, "", nil); status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
		})
	}
}

// delivery is what a client saw first: the ids and data of the messages
// ("<none>" for no id, "<raw>" for something that is not a message), or a
// poll's raw body and content type.
type delivery struct {
	ids  []string
	data []string
	raw  string
	ct   string
}

// deliver receives the next delivery on path from cursor 1: a poll response,
// or on /ws and /sse the next n messages. arm runs before the request, or
// with live once the request is being served (a stream open, a long poll
// held).
func deliver(t *testing.T, s *Server, path string, live bool, n int, arm func()) delivery {
	t.Helper()
	ctx := testCtx(t)
	var d delivery
	switch path {
	case PathWebSocket:
		if !live {
			arm()
		}
		c := dialWS(t, ctx, s, "?since=1")
		if live {
			if err := s.WaitLive(ctx, path, 1); err != nil {
				t.Fatal(err)
			}
			arm()
		}
		for len(d.ids) < n {
			frame := readFrame(t, ctx, c)
			if frame[0] != '{' && frame[0] != '[' {
				d.ids, d.data, d.raw = append(d.ids, "<raw>"), append(d.data, string(frame)), string(frame)
				continue
			}
			msgs, _ := frameMsgs(t, frame)
			for _, m := range msgs {
				d.ids, d.data = append(d.ids, m.id()), append(d.data, string(m.Data))
			}
		}
	case PathSSE:
		if !live {
			arm()
		}
		sc := openSSE(t, s, "?since=1", nil)
		if live {
			if err := s.WaitLive(ctx, path, 1); err != nil {
				t.Fatal(err)
			}
			arm()
		}
		for len(d.ids) < n {
			b := sc.event(t)
			id, data := "<none>", ""
			for _, l := range b {
				switch {
				case strings.HasPrefix(l, "id: "):
					id = strings.TrimPrefix(l, "id: ")
				case strings.HasPrefix(l, "data: "):
					data = strings.TrimPrefix(l, "data: ")
				default:
					id, data = "<raw>", l
				}
			}
			d.ids, d.data = append(d.ids, id), append(d.data, data)
		}
	default:
		var r pollResult
		if live {
			res := goGet(t, newClient(t), s.URL()+path+"?since=2")
			if err := s.WaitLive(ctx, path, 1); err != nil {
				t.Fatal(err)
			}
			arm()
			r = result(t, res)
		} else {
			arm()
			r = <-goGet(t, newClient(t), s.URL()+path+"?since=1")
		}
		if r.err != nil || r.status != 200 {
			t.Fatalf("got %d, %v", r.status, r.err)
		}
		d.raw, d.ct = string(r.body), r.header.Get("Content-Type")
		if strings.HasPrefix(d.raw, "[") {
			for _, m := range decodeList(t, r.body) {
				d.ids, d.data = append(d.ids, m.id()), append(d.data, string(m.Data))
			}
		}
	}
	return d
}

func TestFaults_InjectOversized(t *testing.T) {
	const size = 3000
	tests := []struct {
		path    string
		live    bool
		wantIDs []string
	}{
		{PathWebSocket, false, []string{"<none>", "2"}},
		{PathSSE, false, []string{"<none>", "2"}},
		{PathPoll, false, []string{"<none>", "2"}},
		{PathLongPoll, false, []string{"<none>", "2"}},
		{PathLongPoll, true, []string{"<none>"}}, // wakes the held request
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			s := newServer(t, Options{LongPollHold: wait, KeepAlive: -1})
			s.Publish("", nil)
			s.Publish("", []byte(`"two"`))
			d := deliver(t, s, tt.path, tt.live, len(tt.wantIDs), func() { s.InjectOversized(tt.path, size) })
			if !slices.Equal(d.ids, tt.wantIDs) {
				t.Fatalf("ids %v, want %v", d.ids, tt.wantIDs)
			}
			if got := d.data[0]; len(got) != size || !strings.HasPrefix(got, `"xxx`) {
				t.Errorf("oversized data is %d bytes %.10q…, want %d", len(got), got, size)
			}
			if len(d.data) > 1 && d.data[1] != `"two"` {
				t.Errorf("then %q, want message 2", d.data[1])
			}
			// One-shot: the next delivery is normal.
			if tt.path == PathPoll || tt.path == PathLongPoll {
				id := s.Publish("", nil)
				if got := deliver(t, s, tt.path, false, 0, func() {}); got.ids[0] != "2" || got.ids[len(got.ids)-1] != id {
					t.Errorf("after the injection got %v", got.ids)
				}
			}
		})
	}
}

func TestFaults_InjectOversizedLiveStreams(t *testing.T) {
	for _, path := range []string{PathWebSocket, PathSSE} {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{KeepAlive: -1})
			s.Publish("", nil)
			// The stream is live and idle; the injection goes out at once,
			// without a publish, and only once.
			d := deliver(t, s, path, true, 1, func() { s.InjectOversized(path, 10) })
			if !slices.Equal(d.ids, []string{"<none>"}) || len(d.data[0]) != 10 {
				t.Fatalf("got %v %q", d.ids, d.data)
			}
		})
	}
}

func TestFaults_InjectMalformed(t *testing.T) {
	tests := []struct {
		path string
		live bool
	}{
		{PathWebSocket, false},
		{PathSSE, false},
		{PathPoll, false},
		{PathLongPoll, false},
		{PathLongPoll, true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			s := newServer(t, Options{LongPollHold: wait, KeepAlive: -1})
			s.Publish("", nil)
			s.Publish("", nil)
			d := deliver(t, s, tt.path, tt.live, 2, func() { s.InjectMalformed(tt.path) })
			switch tt.path {
			case PathWebSocket:
				if d.ids[0] != "<raw>" || d.data[0] != "not json{" || d.ids[1] != "2" {
					t.Fatalf("got %v %q", d.ids, d.data)
				}
			case PathSSE:
				if d.ids[0] != "<raw>" || strings.Contains(d.data[0], ":") || d.ids[1] != "2" {
					t.Fatalf("got %v %q", d.ids, d.data)
				}
			default:
				if d.raw != "<html>oops</html>" || d.ct != "text/html" {
					t.Fatalf("body %q, content type %q", d.raw, d.ct)
				}
				next := deliver(t, s, tt.path, false, 0, func() {})
				if !slices.Equal(next.ids, []string{"2"}) {
					t.Errorf("after the injection got %v %q", next.ids, next.raw)
				}
			}
		})
	}
}

func TestFaults_WaitLiveIsWoken(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() { errc <- s.WaitLive(ctx, PathSSE, 2) }()
	openSSE(t, s, "", nil)
	openSSE(t, s, "", nil)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if err := s.WaitLive(wctx, PathSSE, 3); err != context.DeadlineExceeded {
		t.Errorf("WaitLive for a count never reached = %v", err)
	}
}
