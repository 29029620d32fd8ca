package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/anysub/anysub/transport"
)

// ExampleLongPoll follows a long-polling endpoint until the server ends the
// stream with 410 Gone. Each request carries the id of the last message
// received, so the server knows where to resume.
func ExampleLongPoll() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since := r.URL.Query().Get("since")
		fmt.Printf("server: GET since=%q\n", since)
		switch since {
		case "":
			fmt.Fprint(w, `[{"id":1,"data":"hello"},{"id":2,"data":"world"}]`)
		case "2":
			// A real server would hold this request until something new
			// happened, up to LongPoll.Hold.
			fmt.Fprint(w, `{"messages":[{"id":3,"event":"bye","data":{"n":3}}]}`)
		default:
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lp := &transport.LongPoll{URL: srv.URL, Hold: 20 * time.Second}
	stream, err := lp.Open(ctx, transport.Request{HTTPClient: srv.Client()})
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
			fmt.Println("next:", err)
			return
		}
		fmt.Printf("id=%s event=%q data=%s\n", msg.ID, msg.Event, msg.Data)
	}
	// Output:
	// server: GET since=""
	// id=1 event="" data="hello"
	// id=2 event="" data="world"
	// server: GET since="2"
	// id=3 event="bye" data={"n":3}
	// server: GET since="3"
	// end of stream
}

// ExamplePoll resumes a polling subscription from a known cursor. The server
// answers at once, with nothing new the second time, and the transport asks
// again after Interval.
func ExamplePoll() {
	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since := r.URL.Query().Get("since")
		mu.Lock()
		asked[since]++
		n := asked[since]
		mu.Unlock()
		fmt.Printf("server: GET since=%s (time %d)\n", since, n)
		switch {
		case since == "41":
			fmt.Fprint(w, `[{"id":42,"data":"x"}]`)
		case since == "42" && n == 1:
			w.WriteHeader(http.StatusNoContent) // nothing new yet
		case since == "42":
			fmt.Fprint(w, `[{"id":43,"data":"y"}]`)
		default:
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &transport.Poll{URL: srv.URL, Interval: 10 * time.Millisecond}
	stream, err := p.Open(ctx, transport.Request{Cursor: "41", HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	defer stream.Close()
	for {
		msg, err := stream.Next(ctx)
		if err != nil {
			fmt.Println("end of stream:", errors.Is(err, io.EOF))
			return
		}
		fmt.Printf("id=%s data=%s\n", msg.ID, msg.Data)
	}
	// Output:
	// server: GET since=41 (time 1)
	// id=42 data="x"
	// server: GET since=42 (time 1)
	// server: GET since=42 (time 2)
	// id=43 data="y"
	// server: GET since=43 (time 1)
	// end of stream: true
}
