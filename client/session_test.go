package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/anysub/anysub/transport"
)

// sessionTransport records the Session and Auth of every Open. Each
// stream reports the carrier "inner", delivers one message and then fails
// with an error naming the auth it was given (which must not show).
type sessionTransport struct {
	name string

	mu    sync.Mutex
	opens []transport.Request
}

func (f *sessionTransport) Name() string { return f.name }

func (f *sessionTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	f.mu.Lock()
	f.opens = append(f.opens, req)
	n := len(f.opens)
	f.mu.Unlock()
	req.Session.ReportCarrier("", "inner")
	return &scriptStream{
		msgs:   msgs(strconv.Itoa(n)),
		end:    &transport.Error{Transport: f.name, Op: "read", Class: transport.Transient, Err: errors.New("refused " + string(req.Auth))},
		closed: make(chan struct{}),
	}, nil
}

func (f *sessionTransport) requests() []transport.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]transport.Request(nil), f.opens...)
}

func TestSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := &sessionTransport{name: "a"}, &sessionTransport{name: "b"}
		creds := func(context.Context, error) (Credentials, error) {
			return Credentials{Auth: []byte(`{"token":"sekret-1234"}`)}, nil
		}
		cfg := Config{Transports: []transport.Transport{a, b}, Credentials: creds, Backoff: noJitterLinear(), UpgradeInterval: -1}
		sub, err := Subscribe(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		collect(t, sub, 3)
		other, err := Subscribe(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		collect(t, other, 1)

		reqs := a.requests()
		if len(reqs) < 4 {
			t.Fatalf("%d opens", len(reqs))
		}
		mine := reqs[0].Session
		if mine == nil || reqs[1].Session != mine || reqs[2].Session != mine {
			t.Fatal("the attempts of one subscription on one rung do not share their Session")
		}
		if reqs[len(reqs)-1].Session == mine {
			t.Fatal("two subscriptions share a Session")
		}
		for _, r := range reqs {
			if string(r.Auth) != `{"token":"sekret-1234"}` {
				t.Fatalf("auth %q", r.Auth)
			}
		}
		if mine.Ended() {
			t.Fatal("ended before Close")
		}
		sub.Close()
		if !mine.Ended() {
			t.Fatal("not ended after Close")
		}
		evs := drainEvents(sub)
		carriers := 0
		for _, e := range evs {
			if e.Kind == EventCarrier {
				carriers++
				if e.Transport != "a" || e.From != "" || e.To != "inner" || e.String() != "carrier a: inner" {
					t.Fatalf("carrier event %+v %q", e, e.String())
				}
			}
			if e.Err != nil && strings.Contains(e.Err.Error(), "sekret-1234") {
				t.Fatalf("event %v shows the auth token", e)
			}
		}
		if carriers < 3 {
			t.Fatalf("%d carrier events in %v", carriers, kinds(evs))
		}
		other.Close()
		drainEvents(other)
	})
}

func TestEvent_String_carrier(t *testing.T) {
	e := Event{Kind: EventCarrier, Transport: "socketio", From: "polling", To: "websocket"}
	if got := e.String(); got != "carrier socketio: polling -> websocket (upgraded in place)" {
		t.Fatalf("%q", got)
	}
	if EventCarrier.String() != "carrier" {
		t.Fatal(EventCarrier.String())
	}
}

func TestJSONStrings(t *testing.T) {
	got := jsonStrings([]byte(`{"token":"a","n":1,"nested":{"k":["b",{"c":"d"}]}}`))
	want := map[string]bool{"a": true, "b": true, "d": true}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for _, s := range got {
		if !want[s] {
			t.Fatalf("%q", got)
		}
	}
	if jsonStrings(nil) != nil || jsonStrings([]byte("not json")) != nil {
		t.Fatal("strings from nothing")
	}
}
