package testserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocket_framing(t *testing.T) {
	s := newServer(t, Options{MaxBatch: 2})
	for i := range 5 {
		s.Publish("tick", fmt.Appendf(nil, `{"n":%d}`, i+1))
	}
	ctx := testCtx(t)
	c := dialWS(t, ctx, s, "")

	// The backlog comes as arrays of at most MaxBatch.
	for _, want := range [][]string{{"1", "2"}, {"3", "4"}, {"5"}} {
		msgs, isArray := frameMsgs(t, readFrame(t, ctx, c))
		if !isArray || !slices.Equal(ids(msgs), want) {
			t.Fatalf("got %v (array %v), want array %v", ids(msgs), isArray, want)
		}
	}
	// New messages come one object per frame, even in a burst.
	s.Publish("", []byte(`"a"`))
	s.Publish("", []byte(`"b"`))
	s.Publish("", []byte(`"c"`))
	for _, want := range []string{
		`{"id":"6","data":"a"}`, `{"id":"7","data":"b"}`, `{"id":"8","data":"c"}`,
	} {
		if got := string(readFrame(t, ctx, c)); got != want {
			t.Fatalf("frame %s, want %s", got, want)
		}
	}
}

func TestWebSocket_backlogSplitFromLive(t *testing.T) {
	s := newServer(t, Options{})
	s.Publish("", []byte("1"))
	ctx := testCtx(t)
	c := dialWS(t, ctx, s, "?since=0")
	msgs, isArray := frameMsgs(t, readFrame(t, ctx, c))
	if !isArray || !slices.Equal(ids(msgs), []string{"1"}) {
		t.Fatalf("backlog %v (array %v), want array [1]", ids(msgs), isArray)
	}
	s.Publish("", []byte("2"))
	if msgs, isArray := frameMsgs(t, readFrame(t, ctx, c)); isArray || msgs[0].id() != "2" {
		t.Fatalf("live frame %v (array %v), want object 2", ids(msgs), isArray)
	}
}

func TestWebSocket_answersPings(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	c := dialWS(t, ctx, s, "")
	c.CloseRead(ctx) // the client needs a reader for pongs to arrive
	for range 3 {
		pctx, cancel := context.WithTimeout(ctx, wait)
		err := c.Ping(pctx)
		cancel()
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
}

func TestWebSocket_clientCloseEndsHandler(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	c := dialWS(t, ctx, s, "")
	if err := s.WaitLive(ctx, PathWebSocket, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.waitCond(ctx, true, func() bool { return s.paths[PathWebSocket].live == 0 }); err != nil {
		t.Fatalf("handler still live after the client closed: %v", err)
	}
}

func TestWebSocket_CloseWebSockets(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		reason string
	}{
		{"end of stream", 1000, "done"},
		{"going away", 1001, ""},
		{"application code", 4001, "custom"},
		{"code not for the wire cuts the connection", 1006, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			ctx := testCtx(t)
			conns := []*websocket.Conn{dialWS(t, ctx, s, ""), dialWS(t, ctx, s, "")}
			if err := s.WaitLive(ctx, PathWebSocket, 2); err != nil {
				t.Fatal(err)
			}
			s.CloseWebSockets(tt.code, tt.reason)
			for _, c := range conns {
				_, _, err := c.Read(ctx)
				if tt.code == 1006 {
					if err == nil || websocket.CloseStatus(err) != -1 {
						t.Errorf("read = %v, want a cut without close frame", err)
					}
					continue
				}
				var ce websocket.CloseError
				if !errors.As(err, &ce) || int(ce.Code) != tt.code || ce.Reason != tt.reason {
					t.Errorf("read = %v, want close %d %q", err, tt.code, tt.reason)
				}
			}
			// A new connection is not affected.
			c := dialWS(t, ctx, s, "")
			id := s.Publish("", nil)
			if msgs, _ := frameMsgs(t, readFrame(t, ctx, c)); msgs[0].id() != id {
				t.Errorf("new connection got %v", ids(msgs))
			}
		})
	}
}

func TestWebSocket_RefuseWebSocket(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	s.RefuseWebSocket(403)
	for range 2 {
		if status, _ := probe(t, s, PathWebSocket, "", nil); status != 403 {
			t.Fatalf("status %d, want 403", status)
		}
	}
	if n := s.Live(PathWebSocket); n != 0 {
		t.Errorf("Live = %d for refused upgrades", n)
	}
	s.RefuseWebSocket(0)
	c := dialWS(t, ctx, s, "")
	id := s.Publish("", nil)
	if msgs, _ := frameMsgs(t, readFrame(t, ctx, c)); msgs[0].id() != id {
		t.Errorf("got %v, want %s", ids(msgs), id)
	}
	if n := s.Requests(PathWebSocket); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestWebSocket_Stall(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	s.Stall(PathWebSocket, true)
	c := dialWS(t, ctx, s, "") // the upgrade completes
	if err := s.WaitLive(ctx, PathWebSocket, 1); err != nil {
		t.Fatal(err)
	}
	s.Publish("", nil)
	readCtx := c.CloseRead(ctx) // ends if any data frame arrived
	pctx, cancel := context.WithTimeout(ctx, quiet)
	defer cancel()
	if err := c.Ping(pctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping on a stalled connection = %v, want no pong", err)
	}
	if readCtx.Err() != nil {
		t.Fatal("a stalled connection delivered a frame")
	}
	// The stall stays on the connection after Stall(false); DropAll ends it.
	s.Stall(PathWebSocket, false)
	if n := s.DropAll(); n != 1 {
		t.Errorf("DropAll = %d, want 1", n)
	}
	select {
	case <-readCtx.Done():
	case <-time.After(wait):
		t.Fatal("stalled connection not cut by DropAll")
	}
	// A new connection is served.
	c2 := dialWS(t, ctx, s, "?since=1")
	id := s.Publish("", nil)
	if msgs, _ := frameMsgs(t, readFrame(t, ctx, c2)); msgs[0].id() != id {
		t.Errorf("got %v, want %s", ids(msgs), id)
	}
}

func TestWebSocket_stalledHandlerEndsWhenClientLeaves(t *testing.T) {
	s := newServer(t, Options{})
	ctx := testCtx(t)
	s.Stall(PathWebSocket, true)
	c := dialWS(t, ctx, s, "")
	if err := s.WaitLive(ctx, PathWebSocket, 1); err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	if err := s.waitCond(ctx, true, func() bool { return s.paths[PathWebSocket].live == 0 }); err != nil {
		t.Fatalf("stalled handler still live after the client left: %v", err)
	}
}
