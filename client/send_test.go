package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anysub/anysub/transport"
)

func errorsAs[T any](err error, target *T) bool { return errors.As(err, target) }

func TestSend_waitsForTheNextConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, sub := memSubscription(t)

		// Drop the connection: the driver waits out a backoff of 1s, during
		// which a Send has no connection and must wait for the next.
		srv.drop()
		synctest.Wait()
		start := time.Now()
		if err := sub.Send(context.Background(), []byte("hello")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Send returned after %v, want after the reconnect 1s later", waited)
		}
		if got := srv.sends(); len(got) != 1 || string(got[0]) != "hello" {
			t.Fatalf("server got %q", got)
		}
	})
}

func TestSend_transientFailureRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, sub := memSubscription(t)
		srv.mu.Lock()
		srv.sendErr = &transport.Error{Transport: "a", Op: "send", Class: transport.Transient, StatusCode: 503, Err: errors.New("503")}
		srv.mu.Unlock()
		if err := sub.Send(context.Background(), []byte("x")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := srv.sends(); len(got) != 1 {
			t.Fatalf("server got %q, want one send", got)
		}
	})
}

func TestSend_permanentFailureReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, sub := memSubscription(t)
		srv.mu.Lock()
		srv.sendErr = &transport.Error{Transport: "a", Op: "send", Class: transport.Permanent, StatusCode: http.StatusBadRequest, Err: errors.New("400")}
		srv.mu.Unlock()
		err := sub.Send(context.Background(), []byte("x"))
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != 400 {
			t.Fatalf("Send = %v, want the 400", err)
		}
	})
}

func TestSend_ctxEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scriptTransport{name: "a", steps: []step{{err: transient("a")}}}
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear(), DowngradeAfter: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sub.Send(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send = %v, want the deadline", err)
		}
	})
}

func TestSend_afterCloseAndUnsupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// scriptStream cannot send.
		a := &scriptTransport{name: "a", steps: []step{{msgs: msgs("1")}}}
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{a}, Backoff: noJitterLinear()})
		if err != nil {
			t.Fatal(err)
		}
		collect(t, sub, 1)
		if err := sub.Send(context.Background(), []byte("x")); !errors.Is(err, transport.ErrSendUnsupported) {
			t.Fatalf("Send = %v, want ErrSendUnsupported", err)
		}
		sub.Close()
		if err := sub.Send(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
	})
}

func TestSendWithID_echoDeliveredOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, sub := memSubscription(t)
		if err := sub.SendWithID(context.Background(), "c-42", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		m, err := sub.Next(context.Background())
		if err != nil || m.ID != "c-42" || m.Transport != TransportLocal || string(m.Data) != "hi" {
			t.Fatalf("Next = %+v, %v; want the local copy", m, err)
		}
		// The server echoes it with the sender's id, then goes on.
		srv.mu.Lock()
		srv.log = append(srv.log, transport.Message{ID: "c-42", Data: []byte("hi")}, transport.Message{ID: "3", Data: []byte("3")})
		close(srv.grew)
		srv.grew = make(chan struct{})
		srv.mu.Unlock()
		m, err = sub.Next(context.Background())
		if err != nil || m.ID != "3" {
			t.Fatalf("Next = %+v, %v; want the message after the echo", m, err)
		}
		if d := sub.Stats().Duplicates; d != 1 {
			t.Fatalf("duplicates %d, want the echo", d)
		}
		if c := sub.Cursor(); c != "3" {
			t.Fatalf("cursor %q", c)
		}
		if got := srv.sends(); len(got) != 1 || string(got[0]) != "hi" {
			t.Fatalf("server got %q", got)
		}
	})
}

// memSubscription subscribes to a new memServer and reads its first
// message, so that a stream is live. It runs inside a synctest bubble.
func memSubscription(t *testing.T) (*memServer, *Subscription) {
	t.Helper()
	srv := newMemServer("a")
	sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{srv}, Backoff: noJitterLinear()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	srv.publish(1)
	collect(t, sub, 1)
	return srv, sub
}

func TestSendWithID_echoUnderTheServersOwnID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, sub := memSubscription(t)
		if err := sub.SendWithID(context.Background(), "c-7", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Next(context.Background()); err != nil || m.ID != "c-7" || m.Transport != TransportLocal {
			t.Fatalf("Next = %+v, %v; want the local copy", m, err)
		}
		// The echo comes back as id 2, the sender's id in its Key.
		srv.mu.Lock()
		srv.log = append(srv.log, transport.Message{ID: "2", Key: "c-7", Data: []byte("hi")}, transport.Message{ID: "3", Data: []byte("3")})
		close(srv.grew)
		srv.grew = make(chan struct{})
		srv.mu.Unlock()
		m, err := sub.Next(context.Background())
		if err != nil || m.ID != "3" {
			t.Fatalf("Next = %+v, %v; want the message after the echo", m, err)
		}
		if d := sub.Stats().Duplicates; d != 1 {
			t.Fatalf("duplicates %d, want the echo", d)
		}
		if c := sub.Cursor(); c != "3" {
			t.Fatalf("cursor %q", c)
		}
	})
}
