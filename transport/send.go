package transport

import (
	"context"
	"errors"
)

// Sender is implemented by a Stream that can send data to the server: a
// WebSocket stream writes a frame on its connection; the HTTP transports
// POST to their SendURL (default: their own URL).
//
// Send may be called concurrently with Next, Push and other Sends. It never
// sends on a stream that has been closed: it fails instead.
type Sender interface {
	// Send sends data and returns nil once it is sent: for a WebSocket, once
	// the whole frame has been written to the connection (not once the
	// server has read or acknowledged it); for HTTP, once the server has
	// answered the POST with a 2xx status. key, when not empty, identifies
	// this payload across retries (HTTP sends it as the Idempotency-Key
	// header, so that a server can drop a repeat; a WebSocket ignores it).
	// A failure is a *Error whose Class says whether a retry can help.
	Send(ctx context.Context, data []byte, key string) error
}

// ErrSendUnsupported is wrapped by the error of a Send on a stream whose
// transport cannot send.
var ErrSendUnsupported = errors.New("transport: this transport cannot send")
