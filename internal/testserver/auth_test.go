package testserver

import (
	"encoding/hex"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// tokenSet is a validator whose valid tokens a test changes as it goes.
type tokenSet struct {
	mu    sync.Mutex
	valid map[string]bool
}

func newTokenSet(tokens ...string) *tokenSet {
	ts := &tokenSet{valid: make(map[string]bool)}
	for _, t := range tokens {
		ts.valid[t] = true
	}
	return ts
}

func (ts *tokenSet) Valid(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.valid[tok]
}

func (ts *tokenSet) revoke(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.valid, tok)
}

// sendPaths are the paths a POST is recorded on.
var sendPaths = []string{PathSSE, PathLongPoll, PathPoll, PathSend}

// bearer returns an Authorization header with tok.
func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func TestAuth_eachPathByHeaderAndQuery(t *testing.T) {
	const good = "good-token"
	tests := []struct {
		name   string
		query  string
		hdr    http.Header
		status int
	}{
		{"no token", "", nil, http.StatusUnauthorized},
		{"header", "", bearer(good), http.StatusOK},
		{"header, scheme in lower case", "", http.Header{"Authorization": {"bearer " + good}}, http.StatusOK},
		{"header, wrong token", "", bearer("stale"), http.StatusUnauthorized},
		{"header, empty token", "", http.Header{"Authorization": {"Bearer "}}, http.StatusUnauthorized},
		{"query", "?access_token=" + good, nil, http.StatusOK},
		{"query, wrong token", "?access_token=stale", nil, http.StatusUnauthorized},
		{"query with a cursor", "?since=0&access_token=" + good, nil, http.StatusOK},
		{"header wins over query", "?access_token=" + good, bearer("stale"), http.StatusUnauthorized},
		{"not a bearer header, query used", "?access_token=" + good, http.Header{"Authorization": {"Basic " + good}}, http.StatusOK},
		{"not a bearer header alone", "", http.Header{"Authorization": {"Basic " + good}}, http.StatusUnauthorized},
	}
	check := func(t *testing.T, s *Server, status int, hdr http.Header, want int, refusedBefore int) {
		t.Helper()
		if status != want {
			t.Fatalf("status %d, want %d", status, want)
		}
		challenge := hdr.Get("WWW-Authenticate")
		wantRefused := refusedBefore
		if want == http.StatusUnauthorized {
			wantRefused++
			if challenge != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q", challenge)
			}
		} else if challenge != "" {
			t.Errorf("WWW-Authenticate %q on an accepted request", challenge)
		}
		if n := s.Unauthorized(); n != wantRefused {
			t.Errorf("Unauthorized = %d, want %d", n, wantRefused)
		}
	}
	for _, path := range allPaths {
		t.Run("GET "+path, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newServer(t, Options{LongPollHold: time.Millisecond, KeepAlive: -1})
					s.RequireToken(newTokenSet(good).Valid)
					status, hdr := probe(t, s, path, tt.query, tt.hdr)
					check(t, s, status, hdr, tt.status, 0)
					// Refused requests are requests all the same.
					if n := s.Requests(path); n != 1 {
						t.Errorf("Requests = %d, want 1", n)
					}
				})
			}
		})
	}
	for _, path := range sendPaths {
		t.Run("POST "+path, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := newServer(t, Options{})
					s.RequireToken(newTokenSet(good).Valid)
					want := tt.status
					if want == http.StatusOK {
						want = http.StatusNoContent
					}
					r := post(t, newClient(t), s.URL()+path+tt.query, "x", tt.hdr)
					check(t, s, r.status, r.header, want, 0)
					if n := len(s.Sent()); (n == 1) != (want == http.StatusNoContent) {
						t.Errorf("%d sends recorded after status %d", n, r.status)
					}
				})
			}
		})
	}
}

func TestAuth_offByDefaultAndByNil(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	if status, _ := probe(t, s, PathPoll, "", nil); status != http.StatusOK {
		t.Fatalf("without RequireToken: status %d", status)
	}
	s.RequireToken(func(string) bool { return false })
	if status, _ := probe(t, s, PathPoll, "?access_token=x", nil); status != http.StatusUnauthorized {
		t.Fatalf("with RequireToken: status %d", status)
	}
	s.RequireToken(nil)
	if status, _ := probe(t, s, PathPoll, "", nil); status != http.StatusOK {
		t.Fatalf("after RequireToken(nil): status %d", status)
	}
	if n := s.Unauthorized(); n != 1 {
		t.Errorf("Unauthorized = %d, want 1", n)
	}
}

func TestAuth_checkedBeforeFaults(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	s.RequireToken(newTokenSet("t").Valid)
	s.FailNext(PathPoll, 1, http.StatusServiceUnavailable, 0)
	s.FailSends(1, http.StatusServiceUnavailable)
	// Refused requests leave the armed faults for the next ones.
	if status, _ := probe(t, s, PathPoll, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("GET without token: %d", status)
	}
	if r := post(t, newClient(t), s.SendURL(), "x", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("POST without token: %d", r.status)
	}
	if status, _ := probe(t, s, PathPoll, "", bearer("t")); status != http.StatusServiceUnavailable {
		t.Fatalf("GET with token: %d, want the armed 503", status)
	}
	if r := post(t, newClient(t), s.SendURL(), "x", bearer("t")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with token: %d, want the armed 503", r.status)
	}
}

func TestAuth_rotation(t *testing.T) {
	s := newServer(t, Options{LongPollHold: time.Millisecond, KeepAlive: -1})
	rot := NewTokenRotator()
	s.RequireToken(rot.Valid)
	first := rot.Current()
	if b, err := hex.DecodeString(first); err != nil || len(first) != 32 || len(b) != 16 {
		t.Fatalf("token %q is not 32 hex characters", first)
	}
	if rot.Rotations() != 0 {
		t.Fatalf("Rotations = %d before any Rotate", rot.Rotations())
	}
	for _, path := range allPaths {
		if status, _ := probe(t, s, path, "", bearer(first)); status != http.StatusOK {
			t.Fatalf("%s with the first token: %d", path, status)
		}
	}
	second := rot.Rotate()
	if second == first || rot.Current() != second || rot.Rotations() != 1 {
		t.Fatalf("after Rotate: %q (first %q), Current %q, Rotations %d", second, first, rot.Current(), rot.Rotations())
	}
	tests := []struct {
		name   string
		query  string
		hdr    http.Header
		status int
	}{
		{"old token in header", "", bearer(first), http.StatusUnauthorized},
		{"old token in query", "?access_token=" + first, nil, http.StatusUnauthorized},
		{"new token in header", "", bearer(second), http.StatusOK},
		{"new token in query", "?access_token=" + second, nil, http.StatusOK},
	}
	for _, path := range allPaths {
		for _, tt := range tests {
			if status, _ := probe(t, s, path, tt.query, tt.hdr); status != tt.status {
				t.Errorf("%s, %s: status %d, want %d", path, tt.name, status, tt.status)
			}
		}
	}
	if r := post(t, newClient(t), s.SendURL(), "x", bearer(first)); r.status != http.StatusUnauthorized {
		t.Errorf("send with the old token: %d", r.status)
	}
	if r := post(t, newClient(t), s.SendURL(), "x", bearer(second)); r.status != http.StatusNoContent {
		t.Errorf("send with the new token: %d", r.status)
	}
}

func TestTokenRotator(t *testing.T) {
	rot := NewTokenRotator()
	if rot.Valid("") {
		t.Error("the empty token is valid")
	}
	var zero TokenRotator
	if zero.Current() != "" || zero.Valid("") {
		t.Error("the zero rotator has a token")
	}
	if tok := zero.Rotate(); !zero.Valid(tok) || zero.Rotations() != 1 {
		t.Error("the zero rotator does not rotate")
	}

	// Concurrent use, for the race detector; every token seen is unique.
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{rot.Current(): true}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				tok := rot.Rotate()
				_ = rot.Valid(tok)
				_ = rot.Current()
				mu.Lock()
				seen[tok] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := rot.Rotations(); n != 200 || len(seen) != 201 {
		t.Fatalf("Rotations %d, distinct tokens %d; want 200, 201", n, len(seen))
	}
	if !rot.Valid(rot.Current()) {
		t.Error("the current token is not valid")
	}
	valid := 0
	for tok := range seen {
		if rot.Valid(tok) {
			valid++
		}
	}
	if valid != 1 {
		t.Errorf("%d tokens valid, want only the current one", valid)
	}
}

func TestAuth_DropUnauthorized(t *testing.T) {
	s := newServer(t, Options{LongPollHold: wait, KeepAlive: -1})
	ts := newTokenSet("a", "b")
	s.RequireToken(ts.Valid)
	ctx := testCtx(t)
	s.Publish("", []byte(`1`))

	// Streams with token a on every path, and one SSE stream with b.
	sseA := openSSE(t, s, "?since=1", bearer("a"))
	sseB := openSSE(t, s, "?since=1", bearer("b"))
	wsA := dialWS(t, ctx, s, "?since=1&access_token=a")
	longA := goGet(t, newClient(t), s.LongPollURL()+"?since=1&access_token=a")
	for _, w := range []struct {
		path string
		n    int
	}{{PathSSE, 2}, {PathWebSocket, 1}, {PathLongPoll, 1}} {
		if err := s.WaitLive(ctx, w.path, w.n); err != nil {
			t.Fatal(err)
		}
	}

	// Revoking a token cuts nothing by itself: the check is per request.
	ts.revoke("a")
	if status, _ := probe(t, s, PathPoll, "", bearer("a")); status != http.StatusUnauthorized {
		t.Fatalf("new request with the revoked token: %d", status)
	}
	id := s.Publish("", []byte(`2`))
	for _, sc := range []*sseClient{sseA, sseB} {
		if b := sc.event(t); !slices.Contains(b, "id: "+id) {
			t.Fatalf("open SSE stream got %q, want message %s", b, id)
		}
	}
	if msgs, _ := frameMsgs(t, readFrame(t, ctx, wsA)); msgs[0].id() != id {
		t.Fatalf("open WebSocket got %v", ids(msgs))
	}
	if r := result(t, longA); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("held long poll: %d, %v", r.status, r.err)
	}

	// Hold a long poll with b (once the answered one is gone), then cut
	// what a holds.
	if err := s.waitCond(ctx, true, func() bool { return s.paths[PathLongPoll].live == 0 }); err != nil {
		t.Fatal(err)
	}
	longB := goGet(t, newClient(t), s.LongPollURL()+"?since="+id+"&access_token=b")
	if err := s.WaitLive(ctx, PathLongPoll, 1); err != nil {
		t.Fatal(err)
	}
	if n := s.DropUnauthorized(); n != 2 {
		t.Fatalf("DropUnauthorized = %d, want 2 (SSE and WebSocket with a)", n)
	}
	if err := sseA.end(t); err == nil {
		t.Error("SSE stream with a ended cleanly, want a cut")
	}
	if _, _, err := wsA.Read(ctx); err == nil {
		t.Error("WebSocket with a still reads")
	}
	if got := []int{s.Live(PathSSE), s.Live(PathWebSocket), s.Live(PathLongPoll)}; !slices.Equal(got, []int{1, 0, 1}) {
		t.Errorf("Live sse/ws/long = %v, want [1 0 1]", got)
	}
	if n := s.DropUnauthorized(); n != 0 {
		t.Errorf("second DropUnauthorized = %d, want 0", n)
	}

	// b's streams are still served.
	id = s.Publish("", []byte(`3`))
	if b := sseB.event(t); !slices.Contains(b, "id: "+id) {
		t.Fatalf("SSE stream with b got %q", b)
	}
	if r := result(t, longB); r.err != nil || r.status != http.StatusOK || len(decodeList(t, r.body)) != 1 {
		t.Fatalf("long poll with b: %d %q %v", r.status, r.body, r.err)
	}

	// Revoking b too, then turning the check off: nothing to cut.
	ts.revoke("b")
	s.RequireToken(nil)
	if n := s.DropUnauthorized(); n != 0 {
		t.Errorf("DropUnauthorized without a check = %d, want 0", n)
	}
	s.RequireToken(ts.Valid)
	if n := s.DropUnauthorized(); n != 1 {
		t.Errorf("DropUnauthorized after revoking b = %d, want 1", n)
	}
	if err := sseB.end(t); err == nil {
		t.Error("SSE stream with b ended cleanly, want a cut")
	}
}

func TestAuth_DropUnauthorizedTokenlessStreams(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	ctx := testCtx(t)
	sc := openSSE(t, s, "", nil) // before any check: no token
	if err := s.WaitLive(ctx, PathSSE, 1); err != nil {
		t.Fatal(err)
	}
	s.RequireToken(func(string) bool { return true })
	if n := s.DropUnauthorized(); n != 1 {
		t.Fatalf("DropUnauthorized = %d, want 1", n)
	}
	if err := sc.end(t); err == nil {
		t.Error("stream ended cleanly, want a cut")
	}
}
