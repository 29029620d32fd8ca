package socketio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
	"github.com/anysub/anysub/transport/socketio"
)

// Follow the /chat namespace of a socket.io server with connection state
// recovery: each event's offset is the message's id (and the cursor), its
// name the event, its other arguments the data.
func ExampleTransport() {
	srv := siotest.New(siotest.Options{Recovery: true}) // a socket.io server
	defer srv.Close()

	sub, err := client.Subscribe(context.Background(), client.Config{
		Transports: []transport.Transport{
			&socketio.Transport{URL: srv.URL() + "/chat"}, // polling, upgraded to WebSocket in place
		},
	})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, func(s siotest.Stats) bool { return s.Connects == 1 }); err != nil {
		panic(err)
	}

	srv.Emit("/chat", "price", map[string]any{"sym": "EUR", "p": 1.08})
	srv.Emit("/chat", "tick")
	for range 2 {
		m, err := sub.Next(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println(m.ID, m.Event, string(m.Data), m.Transport)
	}
	// Output:
	// o1 price [{"p":1.08,"sym":"EUR"}] socketio
	// o2 tick [] socketio
}
