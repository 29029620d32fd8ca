// Package transport opens single connections to a real-time data source over
// WebSocket, Server-Sent Events, HTTP long polling or short polling.
//
// A [Transport] is mechanism only, in the way an http.RoundTripper is: Open
// makes one attempt and returns a [Stream]; the stream yields messages until
// it ends and reports exactly why it ended, as a *[Error] whose [Class] says
// whether the failure is transient, means the server does not offer this
// transport, is permanent, or is a clean end of stream. Retrying, backing off,
// resuming, dropping duplicates and choosing between transports belong to
// package client.
//
// # Wire conventions
//
// Poll and long poll send GET URL?since=<cursor> and accept a JSON array of
// message objects, an object with a "messages" array, or a single message
// object; 204 or an empty list means nothing new. A message object has an
// "id" (string or number), an optional "event" string and a "data" value of
// any JSON type. A [Decoder] handles other shapes.
//
// WebSocket connects to URL?since=<cursor>; every text or binary frame is one
// message object or an array of them. A frame that is not such JSON is
// delivered whole as Data with no id.
//
// SSE follows the WHATWG EventSource rules: id, event, data, retry and
// comments, with Last-Event-ID sent on every request that has a cursor.
//
// The streams of SSE, long poll and poll send (see [Sender]) by POSTing to
// the transport's SendURL, typed application/json when the data is valid
// JSON and text/plain otherwise, with an Idempotency-Key header when the
// caller gives a key; any 2xx answer means the data was taken.
package transport
