package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
)

func TestTransport_polling_events(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{NoUpgrades: true})
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Session: cs.session()})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
	srv.Emit("/", "price", map[string]int{"p": 1}, "x")
	srv.Emit("/", "tick")
	wantMsg(t, next(t, ctx, st), "", "price", `[{"p":1},"x"]`)
	wantMsg(t, next(t, ctx, st), "", "tick", `[]`)
	if got := cs.list(); len(got) != 1 || got[0] != ">polling" {
		t.Fatalf("carriers %q", got)
	}
}

func TestTransport_namespace(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	chat := open(t, ctx, &Transport{URL: srv.URL() + "/chat"}, transport.Request{})
	root := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 2 })
	srv.Emit("/", "root-only")
	srv.Emit("/chat", "hello", "all")
	wantMsg(t, next(t, ctx, chat), "", "hello", `["all"]`)
	wantMsg(t, next(t, ctx, root), "", "root-only", `[]`)

	// A namespace the server does not serve is refused for good.
	srv2 := newServer(t, siotest.Options{Namespaces: []string{"/"}})
	_, err := (&Transport{URL: srv2.URL() + "/nope"}).Open(ctx, transport.Request{})
	var ce *ConnectError
	if classOf(t, err) != transport.Permanent || !errors.As(err, &ce) || ce.Message != "Invalid namespace" || ce.Namespace != "/nope" {
		t.Fatalf("err %v", err)
	}
}

func TestTransport_auth(t *testing.T) {
	ctx := testCtx(t)
	var mu sync.Mutex
	var seen []map[string]any
	srv := newServer(t, siotest.Options{Auth: func(nsp string, auth map[string]any, h http.Header) string {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, auth)
		if auth["token"] != "good" {
			return "Not authorized"
		}
		return ""
	}})
	tr := &Transport{URL: srv.URL(), Auth: json.RawMessage(`{"room":"a","token":"static"}`)}
	// The request's auth (from the client's credentials) wins over the
	// transport's.
	st := open(t, ctx, tr, transport.Request{Auth: []byte(`{"token":"good"}`)})
	srv.Emit("/", "in")
	wantMsg(t, next(t, ctx, st), "", "in", `[]`)

	_, err := tr.Open(ctx, transport.Request{})
	var ce *ConnectError
	if classOf(t, err) != transport.Permanent || !errors.As(err, &ce) || ce.Message != "Not authorized" {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "Not authorized") {
		t.Fatalf("error text %q lacks the server's message", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0]["room"] != "a" || seen[0]["token"] != "good" || seen[1]["token"] != "static" {
		t.Fatalf("auth objects seen %v", seen)
	}
	_, err = (&Transport{URL: srv.URL(), Auth: json.RawMessage(`[1]`)}).Open(ctx, transport.Request{})
	if classOf(t, err) != transport.Permanent {
		t.Fatalf("auth not an object: %v", err)
	}
}

func TestTransport_acksAndBinary(t *testing.T) {
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t, siotest.Options{})
			st := open(t, ctx, &Transport{URL: srv.URL() + "/chat", Transports: []string{tr}}, transport.Request{})
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
			srv.EmitWithAck("/chat", 7, "ask", 1)
			wantMsg(t, next(t, ctx, st), "", "ask", `[1]`)
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return len(s.Acks) == 1 })
			if a := srv.Stats().Acks[0]; a != "3/chat,7[]" {
				t.Fatalf("ack %q", a)
			}
			// A binary event of another namespace is skipped whole.
			srv.EmitRaw("/", `51-["file",{"_placeholder":true,"num":0}]`, []byte{9})
			srv.EmitRaw("/chat", `52-/chat,["file",{"_placeholder":true,"num":1},{"n":{"_placeholder":true,"num":0}}]`, []byte{1, 2, 3}, []byte{255})
			wantMsg(t, next(t, ctx, st), "", "file", `[{"base64":"/w=="},{"n":{"base64":"AQID"}}]`)
		})
	}
}

func TestTransport_serverDisconnect(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
	srv.Emit("/", "last")
	srv.DisconnectNamespace("/")
	wantMsg(t, next(t, ctx, st), "", "last", `[]`)
	_, err := st.Next(ctx)
	if !errors.Is(err, io.EOF) || !errors.Is(err, ErrDisconnected) || classOf(t, err) != transport.EndOfStream {
		t.Fatalf("err %v", err)
	}
}

func TestTransport_send(t *testing.T) {
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t, siotest.Options{})
			st := open(t, ctx, &Transport{URL: srv.URL() + "/chat", Transports: []string{tr}, SendEvent: "say"}, transport.Request{})
			snd := st.(transport.Sender)
			for _, d := range []string{`{"text":"hi"}`, `plain text`, `[1,2]`} {
				if err := snd.Send(ctx, []byte(d), "k"); err != nil {
					t.Fatal(err)
				}
			}
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return len(s.Received) == 3 })
			got := srv.Stats().Received
			want := []string{`[{"text":"hi"}]`, `["plain text"]`, `[[1,2]]`}
			for i, r := range got {
				if r.Namespace != "/chat" || r.Event != "say" || string(r.Args) != want[i] {
					t.Fatalf("received %d: %+v, want args %s", i, r, want[i])
				}
			}
			_ = st.Close()
			if err := snd.Send(ctx, []byte(`1`), ""); classOf(t, err) != transport.Transient {
				t.Fatalf("send after close: %v", err)
			}
		})
	}
}

// Close says goodbye to the engine only, keeping the namespace state for
// recovery; once the subscription has ended for good it disconnects the
// namespace first.
func TestTransport_close(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{Recovery: true})
	done := make(chan struct{})
	sess := &transport.Session{Done: done}
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Session: sess})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
	_ = st.Close()
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.EngineCloses == 1 })
	if s := srv.Stats(); s.Disconnects != 0 {
		t.Fatalf("disconnects %d after an attempt's close", s.Disconnects)
	}
	st = open(t, ctx, &Transport{URL: srv.URL(), Transports: []string{"websocket"}}, transport.Request{Session: sess})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 2 })
	close(done)
	_ = st.Close()
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.EngineCloses == 2 && s.Disconnects == 1 })
}

// Cancelling Open's ctx ends the stream.
func TestTransport_ctxEnds(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	octx, cancel := context.WithCancel(ctx)
	st := open(t, octx, &Transport{URL: srv.URL()}, transport.Request{})
	cancel()
	_, err := st.Next(ctx)
	if classOf(t, err) != transport.Transient {
		t.Fatalf("err %v", err)
	}
}

func TestTransport_validate(t *testing.T) {
	for _, tt := range []struct {
		tr *Transport
		ok bool
	}{
		{&Transport{URL: "http://h"}, true},
		{&Transport{URL: "wss://h/chat", Path: "socket"}, true},
		{&Transport{URL: "ftp://h"}, false},
		{&Transport{URL: "http://"}, false},
		{&Transport{URL: "http://h", Transports: []string{"websocket", "polling"}}, false},
		{&Transport{URL: "http://h", Auth: json.RawMessage(`"x"`)}, false},
		{&Transport{URL: "http://h/a,b"}, false},
	} {
		if err := tt.tr.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate = %v", tt.tr, err)
		}
	}
	tg, err := (&Transport{URL: "ws://u:p@h:1/chat?x=1", Path: "io"}).target(url.Values{"tok": {"s"}})
	if err != nil || tg.nsp != "/chat" || tg.base.String() != "http://u:p@h:1/io/?tok=s&x=1" {
		t.Fatalf("target %v %v", tg.base, err)
	}
}
