package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// ExampleConfig_protocol follows a board server of the kind built for
// browsers: it wants a subscribe frame after connecting, answers it and
// every application ping with {"reqid":N,"result":true}, keeps its ids in a
// field of its own ("seq"), and drops a client that stops pinging. Hello
// builds the subscribe frame from the cursor, Control keeps the replies out
// of the messages, AppPing keeps the link alive, and a Decoder built from
// field paths finds the ids, so that resume and dedupe work.
func ExampleConfig_protocol() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, sub, err := c.Read(ctx) // {"type":"subscribe",...}
		if err != nil || !bytes.Contains(sub, []byte(`"subscribe"`)) {
			return
		}
		c.Write(ctx, websocket.MessageText, []byte(`{"reqid":1000,"result":true}`))
		for seq := 1; seq <= 3; seq++ {
			// Each card goes out only after a ping, which is answered first.
			_, ping, err := c.Read(ctx)
			if err != nil {
				return
			}
			reqid := strings.TrimSuffix(strings.TrimPrefix(string(ping), `{"type":"ping","reqid":`), `}`)
			c.Write(ctx, websocket.MessageText, []byte(`{"reqid":`+reqid+`,"result":true}`))
			c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"card","seq":%d,"text":"card %d"}`, seq, seq))
		}
		c.Close(websocket.StatusNormalClosure, "") // the end of the board
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{&transport.WebSocket{
			URL: "ws" + strings.TrimPrefix(srv.URL, "http"),
			Hello: func(cursor string) ([][]byte, error) {
				since := "null" // a number, or null before the first card
				if cursor != "" {
					since = cursor
				}
				return [][]byte{fmt.Appendf(nil, `{"type":"subscribe","board":"news","reqid":1000,"since":%s}`, since)}, nil
			},
			ConfirmTimeout: 5 * time.Second,
			Control: func(frame []byte) (transport.FrameKind, error) {
				switch {
				case bytes.HasPrefix(frame, []byte(`{"reqid":1000,`)):
					return transport.FrameAck, nil // the subscribe's reply
				case bytes.HasPrefix(frame, []byte(`{"reqid":`)):
					return transport.FrameReply, nil // a ping's reply
				}
				return transport.FrameMessage, nil
			},
			AppPing: func(n int) []byte { return fmt.Appendf(nil, `{"type":"ping","reqid":%d}`, n) },
		}},
		Decoder:           transport.Fields{ID: "seq", Event: "type", Data: "text"}.Decoder(),
		HeartbeatInterval: 20 * time.Millisecond,
		HeartbeatTimeout:  time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	for msg, err := range sub.Messages(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(msg.ID, msg.Event, string(msg.Data))
	}
	fmt.Println("board closed; cursor", sub.Cursor())
	// Output:
	// 1 card "card 1"
	// 2 card "card 2"
	// 3 card "card 3"
	// board closed; cursor 3
}

// ExampleConfig_maxAttempts gives up after three failed attempts in a row,
// here against a port where nothing listens.
func ExampleConfig_maxAttempts() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Subscribe(ctx, client.Config{
		Transports:  []transport.Transport{&transport.SSE{URL: "http://" + addr + "/events"}},
		Backoff:     fastBackoff,
		MaxAttempts: 3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	_, err = sub.Next(ctx)
	var gaveUp *client.GaveUpError
	if errors.As(err, &gaveUp) {
		fmt.Println("gave up after", gaveUp.Attempts, "attempts; permanent:", errors.Is(err, transport.ErrPermanent))
	}
	// Output:
	// gave up after 3 attempts; permanent: true
}
