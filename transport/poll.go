package transport

import (
	"context"
	"time"
)

const (
	// defaultPollInterval is Poll.Interval when left at zero.
	defaultPollInterval = 2 * time.Second
	// defaultPollTimeout is the deadline of one poll request when the
	// request's heartbeat is disabled.
	defaultPollTimeout = 30 * time.Second
)

// Poll is the HTTP short-polling transport: it asks GET URL?since=<cursor>,
// gets an answer at once (possibly empty), and asks again Interval after
// the previous request ended. It suits servers that cannot hold requests
// open, at the cost of up to Interval of latency.
//
// Requests are conditional: a 200 answer's ETag and Last-Modified go back
// as If-None-Match and If-Modified-Since while the cursor stays put, and a
// 304 Not Modified delivers nothing, without decoding anything. With
// Fields.Key, a server that answers its whole state every time, items
// without ids, is followed too: the client delivers only the items whose
// keys it has not seen. The pause before a request is at least what the
// last answer asked for in X-Poll-Interval (seconds) or Retry-After.
//
// Its streams implement Sender: Send POSTs to SendURL with the request's
// client, Header and Query, and its key as the Idempotency-Key header.
//
// The zero value of every field but URL means its documented default. A Poll
// is safe for concurrent use and is not modified by Open.
type Poll struct {
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

	// Interval is the pause between the end of one request and the start of
	// the next. Time the subscriber spends reading the previous response's
	// messages counts toward it. Default 2s.
	Interval time.Duration

	// Decoder turns a response body into messages. Default
	// Request.Decoder, and DecodeJSON when that is nil too.
	Decoder Decoder

	// MaxResponseSize bounds one response body in bytes; a larger one fails
	// with ErrMessageTooLarge. Default 16 MiB, and never below the request's
	// MaxMessageSize.
	MaxResponseSize int64
}

var _ Transport = (*Poll)(nil)

// Name returns NamePoll.
func (p *Poll) Name() string { return NamePoll }

// Open makes the first request and returns a stream holding its messages; an
// error answer to that first request (404, 401, ...) is returned here. Each
// request must complete within Heartbeat.Interval+Heartbeat.Timeout of the
// request (30s when the heartbeat is disabled) or it fails with ErrStalled.
func (p *Poll) Open(ctx context.Context, req Request) (Stream, error) {
	s, err := openPolling(ctx, req, p.spec(req))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// spec fills in p's defaults for one request.
func (p *Poll) spec(req Request) pollSpec {
	interval := p.Interval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	timeout := defaultPollTimeout
	if req.Heartbeat.Enabled() {
		timeout = req.Heartbeat.Interval + req.Heartbeat.Timeout
	}
	return pollSpec{
		name:        NamePoll,
		rawURL:      p.URL,
		sendURL:     p.SendURL,
		cursorParam: p.CursorParam,
		decoder:     p.Decoder,
		maxResponse: p.MaxResponseSize,
		timeout:     timeout,
		interval:    interval,
	}
}
