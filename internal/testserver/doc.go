// Package testserver runs one in-process HTTP server that serves a single
// shared message log over WebSocket, Server-Sent Events, long polling and
// polling, with fault controls. It exists for the SDK's own tests, its
// runnable examples and the CLI demo; it is not a production server.
//
// [New] listens on 127.0.0.1 with a kernel-chosen port and serves at once:
//
//	/ws    WebSocket (github.com/coder/websocket), any origin
//	/sse   text/event-stream
//	/long  long polling
//	/poll  short polling
//	/send  takes sends only (POST)
//
// # Messages
//
// [Server.Publish] appends a message to the log and gives it the next id,
// "1", "2", … as decimal strings. On the wire a message is the JSON object
//
//	{"id":"5","event":"tick","data":<raw JSON>}
//
// with "event" left out when empty. Data that is valid JSON is kept as that
// JSON, compacted; anything else is stored as a JSON string. The data bytes
// are the same on every transport (SSE carries them on one data: line).
// The log keeps the newest Options.Retention messages.
//
// # Resume cursor
//
// Every request names the id of the last message the client has: the query
// parameter "since" on every path, or the Last-Event-ID header on /sse (which
// wins over "since" when both are present and non-empty). The answer starts
// with the message after it. The rules are the same on all four paths:
//
//   - no cursor (absent or empty): start from the oldest retained message, so a
//     new client sees the retained history;
//   - the id of a message that has fallen out of retention, or "0": start
//     from the oldest retained message. The messages in between are lost and
//     nothing on the wire says so; a test that cares compares ids;
//   - an id newer than the newest message, or anything that is not a
//     non-negative decimal integer: 400 Bad Request.
//
// # Transports
//
// /poll answers 200 with a JSON array of at most Options.MaxBatch messages
// after the cursor, [] when there is nothing new. /long answers the same way
// but, when there is nothing new, holds the request until a message is
// published or Options.LongPollHold passes, and then answers [].
//
// /ws sends the backlog (messages after the cursor that existed when the
// connection was accepted) as JSON arrays of at most MaxBatch messages, then
// one text frame holding a single object for each new message. The server
// reads the connection all along, so client pings get pongs, close frames
// are answered and the frames the client sends are recorded (see Sends).
//
// /sse writes id:, event: (when non-empty) and data: lines per message and
// flushes after each pass, sends a ": keep-alive" comment every
// Options.KeepAlive and, after [Server.SetSSERetry], a retry: field at the
// start of each stream.
//
// # Faults
//
// Tests drive faults instead of sleeping: [Server.DropAll],
// [Server.RefuseWebSocket], [Server.SetSSEContentType], [Server.BufferSSE],
// [Server.Stall], [Server.FailNext], [Server.Disable],
// [Server.InjectOversized], [Server.InjectMalformed] and
// [Server.CloseWebSockets]. [Server.Live], [Server.Requests] and
// [Server.LastCursor] report what the server saw; [Server.WaitLive] and
// [Server.WaitRequests] block until a count is reached, woken by the server
// rather than by polling. Every request but a send is counted first; then
// a method other than GET gets 405, a request without a valid token gets
// 401 (once [Server.RequireToken] is on), and the faults are checked in
// this order: Disable, FailNext, RefuseWebSocket or SetSSEContentType,
// cursor validation (400), Stall.
//
// # Tokens
//
// [Server.RequireToken] makes every request, sends included, carry a bearer
// token (Authorization header or access_token query parameter) that a
// function accepts; [TokenRotator] issues tokens of which only the newest is
// valid. Tokens are checked when a request arrives; [Server.DropUnauthorized]
// cuts the streams whose token is no longer valid, and
// [Server.Unauthorized] counts refusals.
//
// # Sends
//
// What clients send is recorded in an inbox: every data frame a client
// writes on /ws, and the body of every POST on /sse, /long, /poll or /send
// (answered 204). POSTs are not subscription requests: they are not counted
// by Requests, and FailNext, Disable and Stall do not apply to them (a
// stalled WebSocket reads nothing, so it records nothing either). A POST
// whose Idempotency-Key header was already recorded is answered 204 and
// only counted ([Server.SendRepeats]). [Server.FailSends] and
// [Server.DropSendsAfterRecording] are the faults of sends,
// [Server.EchoSends] publishes what is sent back to the log, and
// [Server.Sent] and [Server.WaitSent] inspect the inbox.
//
// # Concurrency and shutdown
//
// Every method is safe for concurrent use. [Server.Close] closes the listener
// and every connection, hijacked WebSockets included, and returns only after
// every handler and every goroutine the server started has exited.
package testserver
