package testserver

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSSE_eventFormat(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	s.Publish("tick", []byte(`{ "n": 1 }`))
	sc := openSSE(t, s, "", nil)
	if got := sc.resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	s.Publish("", []byte("not json"))
	for _, want := range [][]string{
		{"id: 1", "event: tick", `data: {"n":1}`},
		{"id: 2", `data: "not json"`},
	} {
		if got := sc.block(t); !slices.Equal(got, want) {
			t.Fatalf("block %q, want %q", got, want)
		}
	}
}

func TestSSE_keepAlive(t *testing.T) {
	s := newServer(t, Options{KeepAlive: 10 * time.Millisecond})
	sc := openSSE(t, s, "", nil)
	for range 3 {
		if got := sc.block(t); !slices.Equal(got, []string{": keep-alive"}) {
			t.Fatalf("block %q, want a keep-alive comment", got)
		}
	}
}

func TestSSE_keepAliveOff(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	openSSE(t, s, "", nil).silent(t)
}

func TestSSE_SetSSERetry(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	s.Publish("", nil)
	if got := openSSE(t, s, "", nil).block(t); !slices.Equal(got, []string{"id: 1", `data: ""`}) {
		t.Fatalf("without SetSSERetry the stream starts with %q", got)
	}
	s.SetSSERetry(1500 * time.Millisecond)
	sc := openSSE(t, s, "", nil)
	if got := sc.block(t); !slices.Equal(got, []string{"retry: 1500"}) {
		t.Fatalf("first block %q, want retry: 1500", got)
	}
	if got := sc.block(t); got[0] != "id: 1" {
		t.Fatalf("second block %q, want message 1", got)
	}
}

func TestSSE_clientGoneEndsHandler(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	ctx := testCtx(t)
	resp := get(t, ctx, newClient(t), s.SSEURL(), nil)
	if err := s.WaitLive(ctx, PathSSE, 1); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := s.waitCond(ctx, true, func() bool { return s.paths[PathSSE].live == 0 }); err != nil {
		t.Fatalf("handler still live after the client left: %v", err)
	}
}

func TestSSE_SetSSEContentType(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	c := newClient(t)
	ctx := testCtx(t)
	s.SetSSEContentType("text/html; charset=utf-8")
	resp := get(t, ctx, c, s.SSEURL(), nil)
	body := readBody(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || len(body) == 0 {
		t.Fatalf("content type %q, body %q", ct, body)
	}
	if n := s.Live(PathSSE); n != 0 {
		t.Errorf("Live = %d", n)
	}
	s.SetSSEContentType("")
	openSSE(t, s, "", nil) // checks text/event-stream
}

func TestSSE_BufferSSE(t *testing.T) {
	s := newServer(t, Options{KeepAlive: 5 * time.Millisecond})
	s.BufferSSE(true)
	sc := openSSE(t, s, "", nil) // headers arrive
	ctx := testCtx(t)
	if err := s.WaitLive(ctx, PathSSE, 1); err != nil {
		t.Fatal(err)
	}
	st := s.streamsOn(PathSSE)[0]
	s.Publish("a", nil)
	s.Publish("b", nil)
	// Wait until the handler holds both events and some keep-alives, then
	// check that none of it reached the client.
	const events = len("id: 1\nevent: a\ndata: \"\"\n\n") * 2
	if err := s.waitCond(ctx, true, func() bool { return st.sseHeld > events }); err != nil {
		t.Fatal(err)
	}
	sc.silent(t)
	s.mu.Lock()
	released := st.sseReleased
	s.mu.Unlock()
	if released != 0 {
		t.Fatalf("%d bytes released while buffering", released)
	}

	// Turning buffering off lets the held bytes out, in order.
	s.BufferSSE(false)
	var got []string
	for len(got) < 2 {
		b := sc.event(t)
		got = append(got, strings.Join(b, "|"))
	}
	want := []string{`id: 1|event: a|data: ""`, `id: 2|event: b|data: ""`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSSE_BufferSSEFlushesWhenFull(t *testing.T) {
	s := newServer(t, Options{KeepAlive: -1})
	s.BufferSSE(true)
	sc := openSSE(t, s, "", nil)
	big := strings.Repeat("x", maxHeld/4)
	for range 5 {
		s.Publish("", []byte(big))
	}
	if got := sc.event(t); got[0] != "id: 1" {
		t.Fatalf("got %.40q, want message 1 once the buffer filled", got)
	}
}

func TestSSE_Stall(t *testing.T) {
	s := newServer(t, Options{KeepAlive: 5 * time.Millisecond})
	s.Stall(PathSSE, true)
	sc := openSSE(t, s, "", nil) // headers arrive
	ctx := testCtx(t)
	if err := s.WaitLive(ctx, PathSSE, 1); err != nil {
		t.Fatal(err)
	}
	s.Publish("", nil)
	sc.silent(t) // neither the message nor keep-alives
	if n := s.DropAll(); n != 1 {
		t.Errorf("DropAll = %d, want 1", n)
	}
	if err := sc.end(t); err == nil {
		t.Error("stalled stream ended cleanly")
	}
}
