package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFields_key(t *testing.T) {
	body := `{"msg":[{"user":"a","text":"hi","time":1},{"user":"b","time":2},{"id":"9","user":"c"},"bare",{"other":1}]}`
	tests := []struct {
		key  string
		want []string
	}{
		{"", []string{"", "", "", "", ""}},
		{"user,time", []string{`["a",1]`, `["b",2]`, "", "", ""}},
		{"text", []string{`["hi"]`, "", "", "", ""}},
		{"user,text", []string{`["a","hi"]`, `["b",null]`, "", "", ""}},
	}
	for _, tt := range tests {
		msgs, err := Fields{Items: "msg", Key: tt.key}.Decoder()([]byte(body))
		if err != nil || len(msgs) != 5 {
			t.Fatalf("key %q: %d messages, %v", tt.key, len(msgs), err)
		}
		for i, m := range msgs {
			if m.Key != tt.want[i] {
				t.Errorf("key %q: message %d has key %q, want %q", tt.key, i, m.Key, tt.want[i])
			}
		}
	}

	// A content key is a hash of the item's text: equal items, equal keys;
	// the message with an id gets none.
	msgs, err := Fields{Items: "msg", Key: KeyContent}.Decoder()([]byte(`{"msg":[{"u":"a"},{"u":"b"},{"u":"a"},{"id":1,"u":"a"}]}`))
	if err != nil || len(msgs) != 4 {
		t.Fatal(len(msgs), err)
	}
	if msgs[0].Key == "" || msgs[0].Key != msgs[2].Key || msgs[0].Key == msgs[1].Key || msgs[3].Key != "" || len(msgs[0].Key) != 32 {
		t.Fatalf("content keys %q %q %q %q", msgs[0].Key, msgs[1].Key, msgs[2].Key, msgs[3].Key)
	}

	for _, bad := range []string{"a,,b", "a.", ",", "a..b"} {
		if (Fields{Key: bad}).Validate() == nil {
			t.Errorf("key %q validated", bad)
		}
	}
	for _, good := range []string{"", "content", "a", "a.b,c"} {
		if err := (Fields{Key: good}).Validate(); err != nil {
			t.Errorf("key %q: %v", good, err)
		}
	}
}

// wholeState is a server that answers every GET with its whole state,
// {"msg":[...]}, with an ETag and a Last-Modified, and 304 to a request
// whose validators are current. It counts both kinds of answer.
type wholeState struct {
	mu       sync.Mutex
	items    []string
	version  int
	requests []http.Header
	ok, not  int
	extra    http.Header // added to every answer
}

func (s *wholeState) add(item string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, item)
	s.version++
}

func (s *wholeState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Header.Clone())
	for k, vs := range s.extra {
		w.Header()[k] = vs
	}
	etag := `"v` + itoa(s.version) + `"`
	modified := time.Date(2026, 1, 1, 0, 0, s.version, 0, time.UTC).Format(http.TimeFormat)
	if r.Header.Get("If-None-Match") == etag {
		s.not++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.ok++
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", modified)
	body := `{"msg":[`
	for i, it := range s.items {
		if i > 0 {
			body += ","
		}
		body += it
	}
	w.Write([]byte(body + "]}"))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestPoll_conditional: validators go back with the next request; a 304
// delivers nothing and decodes nothing; a server's X-Poll-Interval is a
// floor on the pause.
func TestPoll_conditional(t *testing.T) {
	ws := &wholeState{}
	ws.add(`{"user":"a"}`)
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	var decodes atomic.Int32
	keyed := Fields{Items: "msg", Key: KeyContent}.Decoder()
	dec := func(b []byte) ([]Message, error) { decodes.Add(1); return keyed(b) }

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := (&Poll{URL: srv.URL, Interval: time.Millisecond, Decoder: dec}).Open(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pauses []time.Duration
	ps := s.(*pollStream)
	// The third request (the second after the first answer) changes the
	// state first, so the fourth gets it.
	ps.waitHook = func(d time.Duration) {
		pauses = append(pauses, d)
		if len(pauses) == 2 {
			ws.add(`{"user":"b"}`)
		}
	}
	m, err := s.Next(ctx)
	if err != nil || m.Key == "" {
		t.Fatal(m, err)
	}
	// Request 2 gets a 304 (nothing), request 3 the new state; the
	// transport delivers it whole (the client's dedupe drops what it has
	// seen by key).
	for _, want := range []string{`{"user":"a"}`, `{"user":"b"}`} {
		m, err := s.Next(ctx)
		if err != nil || string(m.Data) != want {
			t.Fatalf("got %s %v, want %s", m.Data, err, want)
		}
	}
	ws.mu.Lock()
	ok, not, reqs := ws.ok, ws.not, ws.requests
	ws.mu.Unlock()
	if ok != 2 || not != 1 || decodes.Load() != 2 {
		t.Fatalf("%d answers 200, %d answers 304, %d decodes; want 2, 1, 2", ok, not, decodes.Load())
	}
	if reqs[0].Get("If-None-Match") != "" || reqs[1].Get("If-None-Match") != `"v1"` ||
		reqs[1].Get("If-Modified-Since") != "Thu, 01 Jan 2026 00:00:01 GMT" || reqs[2].Get("If-None-Match") != `"v1"` {
		t.Fatalf("validators sent: %q %q %q", reqs[0].Values("If-None-Match"), reqs[1].Values("If-None-Match"), reqs[2].Values("If-None-Match"))
	}

	// X-Poll-Interval (and Retry-After, on a 304 too) set the least pause.
	ws.mu.Lock()
	ws.extra = http.Header{"X-Poll-Interval": {"1"}}
	ws.mu.Unlock()
	pauses = nil
	ps.waitHook = func(d time.Duration) {
		if pauses = append(pauses, d); len(pauses) == 2 {
			ws.add(`{"user":"c"}`)
		}
	}
	if _, err := s.Next(ctx); err != nil { // a 304 with the hint, then c
		t.Fatal(err)
	}
	if len(pauses) < 2 || pauses[1] < 900*time.Millisecond {
		t.Fatalf("pauses %v: the second should honour X-Poll-Interval: 1", pauses)
	}
}

// TestPoll_validatorsFollowTheURL: once the cursor moves, the URL changes,
// and the validators of the old one are not sent.
func TestPoll_validatorsFollowTheURL(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery+" "+r.Header.Get("If-None-Match"))
		n := len(seen)
		mu.Unlock()
		w.Header().Set("ETag", `"e`+itoa(n)+`"`)
		if n == 1 {
			w.Write([]byte(`[{"id":1}]`))
			return
		}
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := (&Poll{URL: srv.URL, Interval: time.Millisecond}).Open(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next, stop := context.WithCancel(ctx)
	s.(*pollStream).waitHook = func(time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 3 {
			stop()
		}
	}
	if m, err := s.Next(next); err != nil || m.ID != "1" {
		t.Fatal(m, err)
	}
	if _, err := s.Next(next); err == nil {
		t.Fatal("Next returned a message")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != " " || seen[1] != `since=1 ` || seen[2] != `since=1 "e2"` {
		t.Fatalf("requests %q", seen)
	}
}

func TestPollHint(t *testing.T) {
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"X-Poll-Interval": {"60"}}, time.Minute},
		{http.Header{"Retry-After": {"5"}}, 5 * time.Second},
		{http.Header{"X-Poll-Interval": {"2"}, "Retry-After": {"5"}}, 5 * time.Second},
		{http.Header{"X-Poll-Interval": {"-1"}}, 0},
		{http.Header{"X-Poll-Interval": {"soon"}}, 0},
	} {
		if got := pollHint(&http.Response{Header: tt.h}); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.h, got, tt.want)
		}
	}
}
