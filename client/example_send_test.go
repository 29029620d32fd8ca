package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// ExampleSubscription_Send logs in with a frame on every connection (built
// from the cursor, so the server knows where to resume) and sends a message
// over the live WebSocket. The server records every frame it receives.
func ExampleSubscription_Send() {
	srv := testserver.New(testserver.Options{})
	defer srv.Close()
	srv.Publish("chat", []byte(`"welcome"`))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.WebSocket{
			URL: srv.WebSocketURL(),
			Hello: func(cursor string) ([][]byte, error) {
				return [][]byte{fmt.Appendf(nil, `{"type":"login","user":"ada","since":%q}`, cursor)}, nil
			},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	m, err := sub.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("received %s %s\n", m.ID, m.Data)

	// Send returns once the frame is written to the connection; while
	// reconnecting it would wait for the next one.
	if err := sub.Send(ctx, []byte(`{"type":"say","text":"hello"}`)); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.WaitSent(ctx, 2); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range srv.Sent() {
		fmt.Printf("server got on %s: %s\n", s.Path, s.Body)
	}
	// Output:
	// received 1 "welcome"
	// server got on /ws: {"type":"login","user":"ada","since":""}
	// server got on /ws: {"type":"say","text":"hello"}
}

// ExampleConfig_credentials fetches a bearer token before every connection
// attempt. The server rotates its token and cuts the sessions of the old
// one; the next attempt is refused with 401, the hook is asked again with
// that refusal, and the subscription carries on with the new token, losing
// nothing.
func ExampleConfig_credentials() {
	srv := testserver.New(testserver.Options{})
	defer srv.Close()
	tokens := testserver.NewTokenRotator()
	srv.RequireToken(tokens.Valid)

	issued := tokens.Current() // what a token endpoint would hand out
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.SSE{URL: srv.SSEURL()}},
		Backoff:    fastBackoff,
		Credentials: func(ctx context.Context, failure error) (client.Credentials, error) {
			var refused *transport.Error
			if errors.As(failure, &refused) {
				fmt.Println("refreshing after:", refused.StatusCode)
				issued = tokens.Current()
			}
			return client.Credentials{Header: http.Header{"Authorization": {"Bearer " + issued}}}, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	srv.Publish("n", []byte("1"))
	m, _ := sub.Next(ctx)
	fmt.Println("got", m.ID)

	tokens.Rotate()
	srv.DropUnauthorized()
	srv.Publish("n", []byte("2"))
	m, _ = sub.Next(ctx)
	fmt.Println("got", m.ID)
	// Output:
	// got 1
	// refreshing after: 401
	// got 2
}

// ExampleSubscription_Pause stops following the source while nobody looks,
// and resumes from where it stopped: what was published meanwhile arrives
// once.
func ExampleSubscription_Pause() {
	srv := testserver.New(testserver.Options{})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.WebSocket{URL: srv.WebSocketURL()}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	srv.Publish("n", []byte("1"))
	m, _ := sub.Next(ctx)
	fmt.Println("got", m.ID)

	sub.Pause()
	srv.Publish("n", []byte("2"))
	srv.Publish("n", []byte("3"))
	fmt.Println("state:", sub.Stats().State)
	sub.Resume()

	for range 2 {
		m, _ := sub.Next(ctx)
		fmt.Println("got", m.ID)
	}
	// Output:
	// got 1
	// state: paused
	// got 2
	// got 3
}

// fastBackoff keeps the examples quick: reconnects after 10ms, without jitter.
var fastBackoff = backoff.Linear{Initial: 10 * time.Millisecond, Jitter: -1}
