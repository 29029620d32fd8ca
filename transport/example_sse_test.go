package transport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/anysub/anysub/transport"
)

// ExampleSSE opens one SSE stream and reads it until the server closes it.
// Reconnecting from the cursor, after at least the delay the server asked
// for, is the client's job.
func ExampleSSE() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, ": resuming after %s\n\n", r.Header.Get("Last-Event-ID"))
		io.WriteString(w, "id: 41\nevent: price\ndata: {\"eur\":10}\n\n")
		io.WriteString(w, "id: 42\nevent: price\ndata: {\"eur\":11}\n\n")
		io.WriteString(w, "event: note\ndata: first line\ndata: second line\n\n")
		io.WriteString(w, "retry: 1500\n\n")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sse := &transport.SSE{URL: srv.URL}
	stream, err := sse.Open(ctx, transport.Request{
		Cursor:    "40",
		Heartbeat: transport.Heartbeat{Interval: 15 * time.Second, Timeout: 5 * time.Second},
	})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	defer stream.Close()

	for {
		msg, err := stream.Next(ctx)
		if err != nil {
			fmt.Printf("ended: %v, retry after %v\n", transport.ClassOf(err), transport.RetryAfterOf(err))
			return
		}
		fmt.Printf("id=%q event=%q data=%q\n", msg.ID, msg.Event, msg.Data)
	}
	// Output:
	// id="41" event="price" data="{\"eur\":10}"
	// id="42" event="price" data="{\"eur\":11}"
	// id="" event="note" data="first line\nsecond line"
	// ended: transient, retry after 1.5s
}
