package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// ExampleSubscribe follows a server that offers WebSocket and SSE. Its
// WebSocket endpoint does not exist, so the subscription moves to SSE at
// once. The SSE stream breaks after two messages; the subscription
// reconnects from the last id and gets the third; on the next reconnect
// the server ends the stream with 204 No Content.
func ExampleSubscribe() {
	mux := http.NewServeMux()
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Last-Event-ID") {
		case "":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 1\nevent: price\ndata: {\"eur\":10}\n\n")
			fmt.Fprint(w, "id: 2\nevent: price\ndata: {\"eur\":11}\n\n")
			// Returning ends the response: to the client, a dropped stream.
		case "2":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 3\nevent: price\ndata: {\"eur\":12}\n\n")
		default:
			w.WriteHeader(http.StatusNoContent) // nothing more, ever
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{
			&transport.WebSocket{URL: "ws" + srv.URL[len("http"):] + "/ws"},
			&transport.SSE{URL: srv.URL + "/sse"},
		},
		Backoff: backoff.Exponential{Initial: 10 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	// Messages ends quietly when the server ends the stream; any other end
	// is yielded as an error.
	for msg, err := range sub.Messages(ctx) {
		if err != nil {
			fmt.Println("failed:", err)
			break
		}
		fmt.Printf("%s %s %s %s\n", msg.Transport, msg.ID, msg.Event, msg.Data)
	}
	st := sub.Stats()
	fmt.Printf("%s after %d messages, %d downgrade, %d reconnects\n", st.State, st.Messages, st.Downgrades, st.Reconnects)
	// Output:
	// sse 1 price {"eur":10}
	// sse 2 price {"eur":11}
	// sse 3 price {"eur":12}
	// ended after 3 messages, 1 downgrade, 3 reconnects
}
