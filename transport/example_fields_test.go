package transport_test

import (
	"fmt"

	"github.com/anysub/anysub/transport"
)

// ExampleFields reads messages from servers that do not use the id, event
// and data names of DecodeJSON. A Decoder made this way goes in
// Request.Decoder (or a transport's own Decoder field).
func ExampleFields() {
	// A trade feed: the sequence number is "u", the kind "type", and the
	// payload "payload".
	trades := transport.Fields{ID: "u", Event: "type", Data: "payload"}
	if err := trades.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	msgs, err := trades.Decoder()([]byte(`{"u":1042,"type":"trade","payload":{"px":"3.50","qty":2}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range msgs {
		fmt.Printf("id=%s event=%s data=%s\n", m.ID, m.Event, m.Data)
	}

	// A batch inside a result object, each message with an "offset".
	pubs := transport.Fields{ID: "offset", Items: "result.publications"}
	msgs, err = pubs.Decoder()([]byte(`{"result":{"channel":"news","publications":[
		{"offset":7,"data":{"title":"a"}},
		{"offset":8,"data":{"title":"b"}}]}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range msgs {
		fmt.Printf("id=%s data=%s\n", m.ID, m.Data)
	}

	// An empty key in a path is a mistake that Validate reports.
	fmt.Println(transport.Fields{ID: "meta..seq"}.Validate())

	// Output:
	// id=1042 event=trade data={"px":"3.50","qty":2}
	// id=7 data={"title":"a"}
	// id=8 data={"title":"b"}
	// transport: Fields.ID path "meta..seq" has an empty key
}
