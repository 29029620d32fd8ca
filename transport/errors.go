package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Class says what a failure means for the subscription.
//
// Every transport classifies an answer or a request error the same way when
// it means the same thing; one function does it for all of them. By kind of
// request:
//
//	answer or error                  WebSocket handshake  SSE, long poll, poll  Send (POST)
//	401, 407                         permanent            permanent             permanent
//	403                              unsupported          unsupported           permanent
//	404, 405, 426, 501               unsupported          unsupported           unsupported
//	408, 429, other 5xx              transient            transient             transient
//	410                              unsupported          end of stream         permanent
//	other 4xx                        unsupported          permanent             permanent
//	other unusable status            unsupported          transient             transient
//	redirect loop, TLS verification  permanent            permanent             permanent
//	network error, timeout           transient            transient             transient
//
// A status-bearing failure carries the server's Retry-After as RetryAfter.
// Besides the table: a bad URL is permanent; an SSE 200 that is not
// text/event-stream is unsupported and 204 the end of the stream; a
// WebSocket closed with status 1000 has reached the end of the stream, and
// one closed otherwise, stalled or over the size limit fails transiently.
//
// A 401 is permanent, but a client with credentials to refresh tries once
// more with fresh ones first. A 403 on a stream transport means the
// transport is refused here (a proxy that blocks upgrades or streaming): the
// client moves to the next one, and when every transport refuses, the
// subscription ends with an error that matches ErrPermanent. A refused
// WebSocket upgrade is unsupported whatever its 4xx, since a server or proxy
// that answers an upgrade with anything but 101 does not offer WebSocket
// there.
type Class int

const (
	// Transient failures are retried after a backoff delay.
	Transient Class = iota + 1
	// Unsupported means the server does not offer this transport here; the
	// client moves to the next transport at once.
	Unsupported
	// Permanent failures end the subscription without retrying.
	Permanent
	// EndOfStream is a clean end chosen by the server.
	EndOfStream
)

// String returns the class name in lower case.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Unsupported:
		return "unsupported"
	case Permanent:
		return "permanent"
	case EndOfStream:
		return "end of stream"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Sentinels matched by errors.Is against a *Error of the corresponding class.
var (
	ErrTransient   = errors.New("transport: transient failure")
	ErrUnsupported = errors.New("transport: transport not supported by server")
	ErrPermanent   = errors.New("transport: permanent failure")
)

// Sentinels for specific conditions, wrapped inside a *Error. Their text is
// part of the sentence a *Error prints, after the transport's name.
var (
	// ErrMessageTooLarge: a message exceeded Request.MaxMessageSize. The
	// stream is dropped; the failure is transient.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrStalled: the connection stayed silent past its heartbeat budget.
	ErrStalled = errors.New("connection stalled")
	// ErrBadContentType: an SSE response was not text/event-stream.
	ErrBadContentType = errors.New("unexpected content type")
	// ErrMalformed: a response body that should have been JSON messages was not.
	ErrMalformed = errors.New("malformed response")
	// ErrTooManyRedirects: the server redirected in a loop.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// SilenceError is the cause of a stall verdict reached because no byte at
// all arrived for Idle (it matches ErrStalled). Unlike an unanswered ping
// or a request past its deadline, silence may come from a healthy server
// with nothing to say: the client checks before it counts it as a failure.
type SilenceError struct {
	Idle time.Duration
}

// Error says how long the connection was silent.
func (e *SilenceError) Error() string {
	return fmt.Sprintf("%v: no bytes for %v", ErrStalled, roundDuration(e.Idle))
}

// Is reports whether target is ErrStalled.
func (e *SilenceError) Is(target error) bool { return target == ErrStalled }

// TooLargeError is the cause of a failure on a message over the size limit
// (it matches ErrMessageTooLarge). ID is the message's id when the
// transport could read it before giving up on the message: a poll item, a
// WebSocket envelope whose id comes before its data; empty otherwise. The
// client uses it to skip a message that fails every attempt.
type TooLargeError struct {
	ID    string
	Size  int64 // bytes seen; at least Limit+1, the whole size when known
	Limit int64
	What  string // what was too large: "message", "frame", "event data", ...
}

// Error describes the message and the limit.
func (e *TooLargeError) Error() string {
	what := e.What
	if what == "" {
		what = "message"
	}
	msg := fmt.Sprintf("%v: %s", ErrMessageTooLarge, what)
	if e.ID != "" {
		msg += " " + strconv.Quote(e.ID)
	}
	return msg + fmt.Sprintf(" of %d bytes or more, limit %d", e.Size, e.Limit)
}

// Is reports whether target is ErrMessageTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrMessageTooLarge }

// Error reports why a connection attempt or a stream failed.
//
// It matches errors.Is against the sentinel of its class (ErrTransient,
// ErrUnsupported, ErrPermanent) and, for EndOfStream, io.EOF; it unwraps to
// the underlying cause, so that the sentinels of specific conditions
// (ErrStalled, ErrMessageTooLarge, ...) and the errors of the libraries
// below (*url.Error, websocket.CloseError, net.ErrClosed, ...) still match.
//
// Its text is one sentence: the transport's name, then what happened, with
// the status when there was one, for instance
//
//	sse: connection stalled: no bytes for 25s
//	websocket: connection closed by the server (status 1006)
//	longpoll: server answered 503 Service Unavailable
//
// Durations in it are rounded (to the millisecond under 10s, to the tenth
// of a second above). The text is stable: programs may show it, but should
// decide with errors.Is and errors.As.
type Error struct {
	// Transport is the name of the transport that failed.
	Transport string
	// Op is the step that failed: "open", "read" or "send".
	Op string
	// Class is what the failure means.
	Class Class
	// StatusCode is the HTTP status (or WebSocket close code) when there was one.
	StatusCode int
	// RetryAfter is the smallest delay the server asked for before the next
	// attempt (Retry-After header, SSE retry field); zero when it asked none.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

// Error implements error: "<transport>: <what happened>", with " (status
// N)" added when the cause does not name the status itself.
func (e *Error) Error() string {
	var msg string
	if e.Transport != "" {
		msg = e.Transport + ": "
	}
	if e.Err != nil {
		msg += e.Err.Error()
	} else {
		msg += e.Class.failure()
	}
	if e.StatusCode != 0 && !namesStatus(e.Err, e.StatusCode) {
		msg += " (status " + strconv.Itoa(e.StatusCode) + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's class, and io.EOF for EndOfStream.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrTransient:
		return e.Class == Transient
	case ErrUnsupported:
		return e.Class == Unsupported
	case ErrPermanent:
		return e.Class == Permanent
	case io.EOF:
		return e.Class == EndOfStream
	}
	return false
}

// ClassOf returns the class of err: the Class of a *Error in its chain,
// EndOfStream for io.EOF, and Transient for anything else non-nil.
func ClassOf(err error) Class {
	var te *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &te):
		return te.Class
	case errors.Is(err, io.EOF):
		return EndOfStream
	}
	return Transient
}

// RetryAfterOf returns the server's requested delay carried by err, or zero.
func RetryAfterOf(err error) time.Duration {
	var te *Error
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// ClassifyStatus returns the class of a status answered to the request of
// a stream transport (SSE, long poll, poll): the middle column of the table
// on Class. Statuses the caller must treat specially (200, 204 on SSE)
// should be handled before calling it.
func ClassifyStatus(code int) Class { return classify(streamExchange, code, nil) }

// statusCause is the cause of a failure that is the server's answer itself:
// "server answered 503 Service Unavailable". The reason phrase is the
// standard one, whatever the server wrote.
// err, when not nil, is the library's own error for the answer, kept in the
// chain.
func statusCause(resp *http.Response, err error) error {
	return &plainError{text: "server answered " + statusText(resp.StatusCode), status: resp.StatusCode, err: err}
}

// ParseRetryAfter parses a Retry-After header value, either delay-seconds or
// an HTTP date relative to now. It returns zero for an empty, invalid or past
// value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(365 * 24 * 3600)
		secs = min(secs, maxSecs)
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
