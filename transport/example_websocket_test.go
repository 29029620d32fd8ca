package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/transport"
)

// ExampleWebSocket opens one WebSocket stream from a cursor and reads it
// until the server ends it with a normal closure. Reconnecting and resuming
// are the client's job.
func ExampleWebSocket() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		// One frame may hold one message or an array of them; a frame that
		// is not a message object is delivered whole, without id.
		frames := []string{
			fmt.Sprintf(`{"event":"resume","data":"after %s"}`, r.URL.Query().Get("since")),
			`[{"id":41,"event":"price","data":{"eur":10}},{"id":42,"event":"price","data":{"eur":11}}]`,
			`plain text`,
		}
		for _, f := range frames {
			if c.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		c.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := &transport.WebSocket{URL: "ws" + strings.TrimPrefix(srv.URL, "http")}
	stream, err := ws.Open(ctx, transport.Request{
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
		if errors.Is(err, io.EOF) {
			fmt.Println("end of stream")
			return
		}
		if err != nil {
			fmt.Println("read:", err)
			return
		}
		fmt.Printf("id=%q event=%q data=%s\n", msg.ID, msg.Event, msg.Data)
	}

	// Output:
	// id="" event="resume" data="after 40"
	// id="41" event="price" data={"eur":10}
	// id="42" event="price" data={"eur":11}
	// id="" event="" data=plain text
	// end of stream
}
