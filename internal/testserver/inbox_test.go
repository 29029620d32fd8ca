package testserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// post makes a POST and reads the whole answer. A transport error is
// returned in the result, not fatal.
func post(t *testing.T, c *http.Client, url, body string, hdr http.Header) pollResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	var r pollResult
	resp, err := c.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	r.status, r.header = resp.StatusCode, resp.Header
	r.body, r.err = io.ReadAll(resp.Body)
	return r
}

// keyed returns a header with an Idempotency-Key.
func keyed(key string) http.Header {
	return http.Header{"Idempotency-Key": {key}}
}

// sentSummary is what a test compares of a Sent.
type sentSummary struct{ path, body, key string }

func summarize(sent []Sent) []sentSummary {
	out := make([]sentSummary, len(sent))
	for i, m := range sent {
		out[i] = sentSummary{m.Path, string(m.Body), m.Key}
	}
	return out
}

func TestInbox_webSocketFrames(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	c, _, err := websocket.Dial(ctx, s.WebSocketURL(), &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Test": {"ws-client"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	frames := []struct {
		typ  websocket.MessageType
		body []byte
	}{
		{websocket.MessageText, []byte(`{"hello":1}`)},
		{websocket.MessageBinary, []byte{0, 1, 0xff}},
		{websocket.MessageText, []byte("plain text")},
		{websocket.MessageText, bytes.Repeat([]byte("x"), 100<<10)}, // over the library's default limit
	}
	for _, f := range frames {
		if err := c.Write(ctx, f.typ, f.body); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := s.WaitSent(ctx, len(frames)); err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != len(frames) {
		t.Fatalf("%d recorded, want %d", len(sent), len(frames))
	}
	for i, f := range frames {
		m := sent[i]
		if m.Path != PathWebSocket || !bytes.Equal(m.Body, f.body) || m.Key != "" || m.Header.Get("X-Test") != "ws-client" {
			t.Errorf("frame %d recorded as %s %.20q key %q header %v", i, m.Path, m.Body, m.Key, m.Header)
		}
	}

	// Sending leaves the stream up: it still delivers, and a ping is answered.
	id := s.Publish("", []byte(`"after"`))
	if msgs, _ := frameMsgs(t, readFrame(t, ctx, c)); msgs[0].id() != id {
		t.Fatalf("got %v, want message %s", ids(msgs), id)
	}
	if n := s.Live(PathWebSocket); n != 1 {
		t.Errorf("Live = %d after sending", n)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestInbox_postOnEachPath(t *testing.T) {
	for _, path := range sendPaths {
		t.Run(path, func(t *testing.T) {
			s := newServer(t, Options{KeepAlive: -1, LongPollHold: time.Millisecond})
			c := newClient(t)
			url := s.URL() + path + "?since=0" // a query does not matter
			steps := []struct {
				body, key string
			}{
				{"first", "k1"},
				{"first, again", "k1"}, // a repeat: not recorded
				{"second", "k2"},
				{"no key", ""},
				{"no key", ""}, // without a key nothing is deduplicated
				{"second, again", "k2"},
			}
			for _, st := range steps {
				hdr := http.Header{"X-Step": {st.body}}
				if st.key != "" {
					hdr.Set("Idempotency-Key", st.key)
				}
				r := post(t, c, url, st.body, hdr)
				if r.err != nil || r.status != http.StatusNoContent || len(r.body) != 0 {
					t.Fatalf("POST %q: %d %q %v", st.body, r.status, r.body, r.err)
				}
			}
			want := []sentSummary{{path, "first", "k1"}, {path, "second", "k2"}, {path, "no key", ""}, {path, "no key", ""}}
			sent := s.Sent()
			if got := summarize(sent); !slices.Equal(got, want) {
				t.Fatalf("Sent = %v, want %v", got, want)
			}
			if h := sent[0].Header.Get("X-Step"); h != "first" {
				t.Errorf("header of the first send: %q", h)
			}
			if n := s.SendRepeats(); n != 2 {
				t.Errorf("SendRepeats = %d, want 2", n)
			}
			if path == PathSend {
				return
			}
			// Sends are not subscription requests, and GET still serves.
			if n := s.Requests(path); n != 0 {
				t.Errorf("Requests = %d after sends, want 0", n)
			}
			if path == PathSSE {
				openSSE(t, s, "", nil)
			} else {
				resp := get(t, testCtx(t), c, s.URL()+path+"?since=0", nil)
				if body := readBody(t, resp, http.StatusOK); string(body) != "[]" && path == PathPoll {
					t.Errorf("poll after sends: %q", body)
				}
			}
		})
	}
}

func TestInbox_keysAcrossPaths(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t)
	for _, path := range sendPaths {
		if r := post(t, c, s.URL()+path, path, keyed("same")); r.status != http.StatusNoContent {
			t.Fatalf("%s: %d", path, r.status)
		}
	}
	if got := summarize(s.Sent()); !slices.Equal(got, []sentSummary{{PathSSE, PathSSE, "same"}}) {
		t.Errorf("Sent = %v", got)
	}
	if n := s.SendRepeats(); n != len(sendPaths)-1 {
		t.Errorf("SendRepeats = %d", n)
	}
}

func TestInbox_methods(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, PathSend, http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, PathSend, http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, PathWebSocket, http.StatusMethodNotAllowed, ""},
		{http.MethodPut, PathLongPoll, http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader("x"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.status, tt.allow)
		}
	}
	if n := len(s.Sent()); n != 0 {
		t.Errorf("%d recorded", n)
	}
}

func TestInbox_FailSends(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		status int
	}{
		{"two 503", 2, http.StatusServiceUnavailable},
		{"one 500", 1, http.StatusInternalServerError},
		{"one 400", 1, http.StatusBadRequest},
		{"none", 0, http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{KeepAlive: -1})
			c := newClient(t)
			ctx := testCtx(t)
			ws := dialWS(t, ctx, s, "")
			s.FailSends(tt.n, tt.status)
			// WebSocket frames are not affected.
			if err := ws.Write(ctx, websocket.MessageText, []byte("frame")); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitSent(ctx, 1); err != nil {
				t.Fatal(err)
			}
			for i := range tt.n {
				if r := post(t, c, s.SendURL(), "x", keyed("k")); r.status != tt.status {
					t.Fatalf("POST %d: %d, want %d", i+1, r.status, tt.status)
				}
			}
			if n := len(s.Sent()); n != 1 {
				t.Fatalf("%d recorded after failed POSTs, want only the frame", n)
			}
			// The same key then goes through: failed tries were not recorded.
			if r := post(t, c, s.SendURL(), "x", keyed("k")); r.status != http.StatusNoContent {
				t.Fatalf("POST after the failures: %d", r.status)
			}
			want := []sentSummary{{PathWebSocket, "frame", ""}, {PathSend, "x", "k"}}
			if got := summarize(s.Sent()); !slices.Equal(got, want) || s.SendRepeats() != 0 {
				t.Fatalf("Sent = %v, repeats %d; want %v, 0", got, s.SendRepeats(), want)
			}
		})
	}
}

func TestInbox_DropSendsAfterRecording(t *testing.T) {
	tests := []struct {
		name        string
		drops       int
		wantRepeats int
	}{
		{"one drop, one retry", 1, 1},
		{"the retry is cut too", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			s.DropSendsAfterRecording(tt.drops)
			// Each try on a fresh client: net/http would retry a POST with an
			// Idempotency-Key on a reused connection by itself.
			for i := range tt.drops {
				r := post(t, newClient(t), s.SendURL(), "payload", keyed("k"))
				if r.err == nil {
					t.Fatalf("try %d answered %d, want a network error", i+1, r.status)
				}
				if n := len(s.Sent()); n != 1 {
					t.Fatalf("after try %d: %d recorded, want 1", i+1, n)
				}
			}
			r := post(t, newClient(t), s.SendURL(), "payload", keyed("k"))
			if r.err != nil || r.status != http.StatusNoContent {
				t.Fatalf("last retry: %d, %v", r.status, r.err)
			}
			if got := summarize(s.Sent()); !slices.Equal(got, []sentSummary{{PathSend, "payload", "k"}}) {
				t.Errorf("Sent = %v", got)
			}
			if n := s.SendRepeats(); n != tt.wantRepeats {
				t.Errorf("SendRepeats = %d, want %d", n, tt.wantRepeats)
			}
			// The drops are used up.
			if r := post(t, newClient(t), s.SendURL(), "other", nil); r.err != nil || r.status != http.StatusNoContent {
				t.Errorf("next send: %d, %v", r.status, r.err)
			}
		})
	}
}

func TestInbox_WaitSent(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() { errc <- s.WaitSent(ctx, 3) }()
	c := newClient(t)
	for i := range 3 {
		if r := post(t, c, s.SendURL(), "x", nil); r.status != http.StatusNoContent {
			t.Fatalf("POST %d: %d", i, r.status)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("WaitSent not woken")
	}
	if err := s.WaitSent(ctx, 3); err != nil {
		t.Errorf("WaitSent for a count reached = %v", err)
	}

	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if err := s.WaitSent(short, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSent for a count never reached = %v", err)
	}

	go func() { errc <- s.WaitSent(ctx, 4) }()
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitSent across Close = %v, want ErrClosed", err)
	}
}

func TestInbox_SentIsACopy(t *testing.T) {
	s := newServer(t, Options{})
	post(t, newClient(t), s.SendURL(), "abc", http.Header{"X-A": {"1"}})
	got := s.Sent()
	got[0].Body[0] = 'z'
	got[0].Header.Set("X-A", "2")
	got[0].Path = "/elsewhere"
	again := s.Sent()[0]
	if string(again.Body) != "abc" || again.Header.Get("X-A") != "1" || again.Path != PathSend {
		t.Errorf("a change to Sent's result changed the inbox: %+v", again)
	}
}

func TestInbox_tooLarge(t *testing.T) {
	s := newServer(t, Options{})
	r := post(t, newClient(t), s.SendURL(), strings.Repeat("x", maxSendBody+1), nil)
	if r.err != nil || r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d, %v; want 413", r.status, r.err)
	}
	if n := len(s.Sent()); n != 0 {
		t.Errorf("%d recorded", n)
	}
}

func TestInbox_EchoSends(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	c := newClient(t)
	ws := dialWS(t, ctx, s, "")
	s.EchoSends(true)
	tests := []struct {
		body string
		key  string
		echo bool
	}{
		{`{"id":"m1","text":"hi"}`, "m1", true},
		{`{"id":"m1","text":"hi"}`, "m1", false}, // a repeat is not echoed
		{`{ "id" : 7, "text" : "spaced" }`, "", true},
		{`{"id":-1.5}`, "", true},
		{`{"text":"no id"}`, "", false},
		{`{"id":null}`, "", false},
		{`{"id":{"nested":1}}`, "", false},
		{`[{"id":"in an array"}]`, "", false},
		{`"id"`, "", false},
		{`not json {"id":"x"}`, "", false},
	}
	var want []string
	for _, tt := range tests {
		var hdr http.Header
		if tt.key != "" {
			hdr = keyed(tt.key)
		}
		if r := post(t, c, s.SendURL(), tt.body, hdr); r.status != http.StatusNoContent {
			t.Fatalf("POST %s: %d", tt.body, r.status)
		}
		if tt.echo {
			want = append(want, tt.body)
		}
	}
	// A WebSocket frame is echoed as well, to every subscriber, the sender
	// included.
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"id":"w1"}`)); err != nil {
		t.Fatal(err)
	}
	want = append(want, `{"id":"w1"}`)
	if err := s.WaitSent(ctx, len(tests)); err != nil { // one POST was a repeat
		t.Fatal(err)
	}
	var got []string
	for len(got) < len(want) {
		msgs, _ := frameMsgs(t, readFrame(t, ctx, ws))
		for _, m := range msgs {
			if m.Event != EchoEvent {
				t.Errorf("event %q, want %q", m.Event, EchoEvent)
			}
			got = append(got, string(m.Data))
		}
	}
	compact := func(s string) string { return string(normalizeData([]byte(s))) }
	for i := range want {
		want[i] = compact(want[i])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("echoed %q, want %q", got, want)
	}
	if s.LastID() != "4" {
		t.Errorf("LastID = %q: echoes take the log's own ids", s.LastID())
	}

	s.EchoSends(false)
	post(t, c, s.SendURL(), `{"id":"quiet"}`, nil)
	if s.LastID() != "4" {
		t.Errorf("echoed while off: LastID %q", s.LastID())
	}
}
