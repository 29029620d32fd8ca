package client

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/transport"
)

// An event's text tells its error once, without the transport's name twice,
// and rounds its durations.
func TestEvent_String(t *testing.T) {
	stalled := &transport.Error{Transport: "sse", Op: "read", Class: transport.Transient,
		Err: &transport.SilenceError{Idle: 25 * time.Second}}
	refused := &transport.Error{Transport: "websocket", Op: "open", Class: transport.Unsupported,
		Err: errors.New("server answered 403 Forbidden")}
	dropped := &transport.Error{Transport: "websocket", Op: "read", Class: transport.Transient,
		Err: errors.New("connection closed by the server")}
	hook := &transport.Error{Transport: "credentials", Op: "open", Class: transport.Transient, Err: errors.New("token service down")}
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventDisconnected, Transport: "sse", Err: stalled, RetryIn: 1435602262},
			"disconnected sse: connection stalled: no bytes for 25s (retry in 1.436s)"},
		{Event{Kind: EventDisconnected, Transport: "websocket", Err: dropped, RetryIn: 12345 * time.Millisecond},
			"disconnected websocket: connection closed by the server (retry in 12.3s)"},
		{Event{Kind: EventDisconnected, Transport: "sse", Err: hook, RetryIn: time.Second},
			"disconnected sse: credentials: token service down (retry in 1s)"},
		{Event{Kind: EventDowngraded, From: "websocket", To: "sse", Err: refused},
			"downgraded websocket -> sse: server answered 403 Forbidden"},
		{Event{Kind: EventProbeFailed, Transport: "websocket", Err: refused},
			"probe-failed websocket: server answered 403 Forbidden"},
		{Event{Kind: EventSendFailed, Transport: "sse", Err: stalled},
			"send-failed sse: connection stalled: no bytes for 25s"},
		{Event{Kind: EventFailed, Err: stalled},
			"failed: sse: connection stalled: no bytes for 25s"},
		{Event{Kind: EventQuiet, Transport: "sse", Budget: 2666666666},
			"quiet sse: nothing to deliver here or below; staying, liveness budget now 2.667s"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%v event:\n got %q\nwant %q", tc.e.Kind, got, tc.want)
		}
	}
}

// TestEvents_beforeFirstCall: events emitted before Events is first called
// wait for it, the most recent EventBuffer of them (older ones counted as
// dropped), and a channel asked for after the end is closed once drained.
func TestEvents_beforeFirstCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Five failed opens, then a stream that ends the subscription:
		// connecting and disconnected for each failed open, then
		// connecting, connected, ended: 13 events.
		tr := &scriptTransport{name: "script", steps: []step{
			{err: transient("script")}, {err: transient("script")}, {err: transient("script")},
			{err: transient("script")}, {err: transient("script")},
			{msgs: msgs("1"), end: &transport.Error{Transport: "script", Op: "read", Class: transport.EndOfStream, Err: io.EOF}},
		}}
		cfg := Config{Transports: []transport.Transport{tr}, EventBuffer: 4, HeartbeatInterval: -1, UpgradeInterval: -1,
			Backoff: fast}
		sub, err := Subscribe(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := sub.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Next(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("Next: %v, want io.EOF", err)
		}
		var kinds []EventKind
		for e := range sub.Events() {
			kinds = append(kinds, e.Kind)
		}
		want := []EventKind{EventDisconnected, EventConnecting, EventConnected, EventEnded}
		if !slices.Equal(kinds, want) {
			t.Fatalf("events %v, want %v", kinds, want)
		}
		if st := sub.Stats(); st.EventsDropped != 9 {
			t.Fatalf("EventsDropped %d, want 9 (13 emitted, 4 kept)", st.EventsDropped)
		}
	})
}
