package transport

import (
	"context"
	"time"
)

// DefaultLongPollHold is LongPoll.Hold when left at zero: how long a long-poll
// server is assumed to hold a request that has nothing new.
const DefaultLongPollHold = 30 * time.Second

const (
	// defaultMinEmptyInterval is LongPoll.MinEmptyInterval when left at zero.
	defaultMinEmptyInterval = 250 * time.Millisecond
	// defaultLongPollGrace is added to the hold time when the request's
	// heartbeat is disabled.
	defaultLongPollGrace = 10 * time.Second
)

// LongPoll is the HTTP long-polling transport: each GET URL?since=<cursor>
// is held open by the server until it has messages newer than the cursor (or
// its hold time runs out), and the next request follows as soon as the
// previous response's messages have been read.
//
// Requests are conditional, and the pause before one is at least what the
// last answer asked for in X-Poll-Interval or Retry-After, as for Poll.
//
// Its streams implement Sender: Send POSTs to SendURL with the request's
// client, Header and Query, and its key as the Idempotency-Key header.
//
// The zero value of every field but URL means its documented default. A
// LongPoll is safe for concurrent use and is not modified by Open.
type LongPoll struct {
	// URL is the endpoint, http or https. Its query parameters are kept,
	// except those that Request.Query replaces; the cursor parameter is set
	// on every request that has a cursor.
	URL string

	// SendURL is where the stream's Send POSTs its data, http or https,
	// with Request.Query applied but no cursor. Default URL. A SendURL that
	// is not an absolute http or https URL fails Open with a permanent
	// *Error.
	SendURL string

	// CursorParam names the query parameter that carries the id of the last
	// message received. Default DefaultCursorParam ("since").
	CursorParam string

	// Hold is how long the server holds a request open when it has nothing
	// new. The transport does not send it; it sizes the request deadline as
	// Hold plus Request.Heartbeat.Timeout (10s when the heartbeat is
	// disabled), past which the request fails with ErrStalled. A Timeout on
	// Request.HTTPClient applies to each request too, so it must exceed
	// Hold. Since a held request and a dead server look the same until the
	// hold ends, that deadline is also how long a dead server takes to be
	// noticed. Default DefaultLongPollHold (30s).
	Hold time.Duration

	// MinEmptyInterval is the least time from the start of a request that
	// came back with no message to the start of the next. A server that
	// holds requests never notices it; one that answers at once with nothing
	// (or a proxy that does) is then polled at most this often instead of
	// in a tight loop. Default 250ms; negative turns it off.
	MinEmptyInterval time.Duration

	// Decoder turns a response body into messages. Default
	// Request.Decoder, and DecodeJSON when that is nil too.
	Decoder Decoder

	// MaxResponseSize bounds one response body in bytes; a larger one fails
	// with ErrMessageTooLarge. Default 16 MiB, and never below the request's
	// MaxMessageSize.
	MaxResponseSize int64
}

var _ Transport = (*LongPoll)(nil)

// Name returns NameLongPoll.
func (l *LongPoll) Name() string { return NameLongPoll }

// Open makes the first request and returns a stream holding its messages; an
// error answer to that first request (404, 401, ...) is returned here.
func (l *LongPoll) Open(ctx context.Context, req Request) (Stream, error) {
	s, err := openPolling(ctx, req, l.spec(req))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// spec fills in l's defaults for one request.
func (l *LongPoll) spec(req Request) pollSpec {
	hold := l.Hold
	if hold <= 0 {
		hold = DefaultLongPollHold
	}
	grace := defaultLongPollGrace
	if req.Heartbeat.Enabled() {
		grace = req.Heartbeat.Timeout
	}
	gap := l.MinEmptyInterval
	if gap == 0 {
		gap = defaultMinEmptyInterval
	}
	return pollSpec{
		emptyGap:    gap,
		name:        NameLongPoll,
		rawURL:      l.URL,
		sendURL:     l.SendURL,
		cursorParam: l.CursorParam,
		decoder:     l.Decoder,
		maxResponse: l.MaxResponseSize,
		timeout:     hold + grace,
	}
}
