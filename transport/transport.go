package transport

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Names of the built-in transports, as reported by [Transport.Name] and carried in
// client messages, events and stats.
const (
	NameWebSocket = "websocket"
	NameSSE       = "sse"
	NameLongPoll  = "longpoll"
	NamePoll      = "poll"
	NameStream    = "stream"
)

// DefaultMaxMessageSize is the per-message limit used when a [Request] leaves
// MaxMessageSize at zero: 1 MiB.
const DefaultMaxMessageSize = 1 << 20

// DefaultCursorParam is the query parameter that carries the resume cursor on
// WebSocket, HTTP stream, long-poll and poll requests when the transport does
// not name another.
const DefaultCursorParam = "since"

// Transport opens one stream for one connection attempt. It never retries,
// sleeps between attempts, or drops duplicates: those are the client's job.
//
// Implementations must be safe for concurrent use: the client may hold a live
// stream on one transport while probing another, and a Transport value may be
// shared by several subscriptions.
type Transport interface {
	// Name identifies the transport in messages, events and stats
	// ("websocket", "sse", "longpoll", "poll" for the built-in ones).
	Name() string

	// Open connects and returns a stream positioned after req.Cursor. It
	// returns once the connection is established (the WebSocket handshake has
	// completed, the SSE response headers have arrived, or the first poll or
	// long-poll request has been answered, so that a missing endpoint or a
	// refusal is known before Open returns). A failure is returned as a *Error whose Class tells the
	// client what to do next. Cancelling ctx aborts Open and, after Open has
	// returned, ends the stream.
	Open(ctx context.Context, req Request) (Stream, error)
}

// Stream is one live connection. Next and Close may be called from different
// goroutines; Next must not be called concurrently with itself.
type Stream interface {
	// Next blocks until the next message arrives or the stream ends. Every
	// error is a *Error (the end of a stream is one too, of class
	// [EndOfStream], matching io.EOF). After Next returns an error the
	// stream is finished and must still be closed.
	Next(ctx context.Context) (Message, error)

	// Close releases the connection. It is idempotent, unblocks a pending Next,
	// and returns only after every goroutine the stream started has exited.
	Close() error
}

// ReadNotifier is implemented by streams that can tell their consumer when
// they are about to wait for the network. NotifyRead sets f, which the
// stream then calls before every read from its connection that may block,
// on the goroutine running Next or Push (and possibly on the goroutine
// closing the stream). A consumer that collects messages to hand them on in
// batches hands on what it has when f is called, so that batching never
// delays a message behind a wait. NotifyRead is called before the first
// Next or Push; f must be quick and must not call the stream.
type ReadNotifier interface {
	NotifyRead(f func())
}

// Request describes one connection attempt. The client fills it; a transport
// reads it and must not keep references to its maps after Open returns.
type Request struct {
	// Cursor is the id of the last message the subscriber has; the stream
	// starts after it. Empty means from the server's current position.
	Cursor string

	// Header is added to the outgoing request (or WebSocket handshake).
	// Its fields are sent to the host of the transport's URL only: a
	// redirect to another host (name and port) gets none of them, unless
	// ForwardHeadersCrossHost is set.
	Header http.Header

	// ForwardHeadersCrossHost lets Header follow a redirect to another
	// host. By default every field of Header (credentials included) is
	// removed from a request redirected to a host other than the first
	// request's; net/http would otherwise keep back only Authorization and
	// cookies, and only when the domain changes. With it set, net/http's
	// own rules still apply.
	ForwardHeadersCrossHost bool

	// Query is added to the URL of every request (or of the WebSocket
	// handshake): credentials that travel in the URL. A parameter already in
	// the transport's URL is replaced.
	Query url.Values

	// Decoder, when not nil, finds the messages in what the stream receives:
	// every WebSocket frame, the data of every SSE event that has no id
	// field, and every poll or long-poll body. A Decoder set on the
	// transport itself takes precedence. Nil keeps each transport's default
	// (the JSON envelope of DecodeJSON, and SSE's own fields).
	Decoder Decoder

	// HTTPClient makes the requests. Nil means http.DefaultClient. Its Timeout,
	// if any, bounds only handshakes and single poll requests, never a
	// streaming body.
	HTTPClient *http.Client

	// MaxMessageSize bounds one message in bytes; zero means
	// DefaultMaxMessageSize. A larger message ends the stream with a *Error
	// wrapping ErrMessageTooLarge.
	MaxMessageSize int64

	// Heartbeat configures liveness detection; the zero value disables it.
	Heartbeat Heartbeat

	// Auth is an authentication payload for protocols that carry one in
	// band rather than in headers (Socket.IO's CONNECT auth object): a
	// JSON object, or nil. Transports without such a payload ignore it.
	Auth []byte

	// Session is what the transport keeps between the attempts of one
	// subscription (see Session); nil when the caller keeps nothing.
	Session *Session
}

// Heartbeat configures how a stream notices that its connection has died
// without closing. Each transport applies it in its own way:
//
//   - WebSocket: the handshake must complete within Interval+Timeout
//     (unless WebSocket.HandshakeTimeout says otherwise); then a ping after
//     Interval without inbound frames, and dead when no pong arrives within
//     Timeout.
//   - SSE: the response headers must arrive within Interval+Timeout
//     (unless SSE.HandshakeTimeout says otherwise); then dead when no byte
//     at all (comments included) arrives for Interval+Timeout while the
//     stream is waiting for data.
//   - HTTP stream: as SSE, whitespace between values counting as bytes.
//   - Long poll: a request deadline of the transport's hold time plus Timeout.
//   - Poll: a request deadline of Interval+Timeout.
//
// Time during which the subscriber is not asking for data (back-pressure)
// never counts toward a verdict.
type Heartbeat struct {
	Interval time.Duration
	Timeout  time.Duration
}

// Enabled reports whether liveness detection is on.
func (h Heartbeat) Enabled() bool { return h.Interval > 0 && h.Timeout > 0 }

// Message is one message as it came off the wire.
type Message struct {
	// ID is the message id, or empty when the server gave none.
	ID string
	// Event is the event name or type, or empty.
	Event string
	// Data is the payload. For JSON envelopes it holds the raw JSON of the
	// data field; for SSE the data lines joined by newlines.
	Data []byte
	// Key, for a message without ID, identifies it for deduplication only:
	// a Decoder derives it from the message's content (see Fields.Key) when
	// the server gives its items no id, as one answering every poll with
	// its whole state does. The client drops a message whose key it has
	// delivered recently, as it drops a repeated id, but a key never
	// becomes the resume cursor.
	Key string
	// Gap marks not a message but a break in continuity, as a Decoder
	// reports it: the server said it could not resume from the cursor
	// (a "recovered": false, a cursor too old), so messages may be missing
	// at this point. The client reports it as a gap and delivers nothing.
	Gap bool
}

// maxMessageSize returns the effective per-message limit of r.
func (r Request) maxMessageSize() int64 {
	if r.MaxMessageSize > 0 {
		return r.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// httpClient returns the client to use for r.
func (r Request) httpClient() *http.Client {
	if r.HTTPClient != nil {
		return r.HTTPClient
	}
	return http.DefaultClient
}
