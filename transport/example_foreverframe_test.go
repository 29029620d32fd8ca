package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/anysub/anysub/transport"
)

// ExampleForeverFrame follows a "forever frame" body: HTML that never ends,
// one <script> element per message, each calling a function of the page
// with the message. SplitScripts cuts the body after each script, wherever
// the network splits it, and the ForeverFrame decoder finds the call and
// decodes its argument; the prologue, which calls nothing, yields nothing.
func ExampleForeverFrame() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		body := `<html><body><script>var cb = function (m) { parent.s.onMessage(m); };</script>` +
			strings.Repeat(" ", 173) +
			`<script>parent.cb({"id":1,"data":"hello"})</script>` +
			`<script>parent.cb({"id":2,"event":"greet","data":{"to":"world"}});</script>`
		// Written in pieces of 20 bytes, as a slow network would deliver it.
		for i := 0; i < len(body); i += 20 {
			fmt.Fprint(w, body[i:min(i+20, len(body))])
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	defer srv.Close()

	tr := &transport.HTTPStream{
		URL:     srv.URL,
		Split:   transport.SplitScripts,
		Decoder: transport.ForeverFrame{Callback: "parent.cb"}.Decoder(),
	}
	stream, err := tr.Open(context.Background(), transport.Request{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()
	for range 2 {
		m, err := stream.Next(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("id=%s event=%q data=%s\n", m.ID, m.Event, m.Data)
	}
	// Output:
	// id=1 event="" data="hello"
	// id=2 event="greet" data={"to":"world"}
}
