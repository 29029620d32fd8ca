package transport

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"time"
)

const (
	// sseFieldOverhead is what an event may add to its data in field names,
	// ids, event names and line ends before the parser gives up on it.
	sseFieldOverhead = 64 << 10
)

// errSSEServerClosed ends a stream whose server closed the response. For
// EventSource that is a cue to reconnect, so it is transient; it must not
// wrap io.EOF, which would make it look like an end of stream.
var errSSEServerClosed = errors.New("server closed the event stream")

// SSE is the Server-Sent Events transport: one GET request whose response
// body is an endless text/event-stream, read with the WHATWG EventSource
// rules (parsed by github.com/tmaxmax/go-sse, which never reconnects here,
// with the stream correcting it where it strays from them). In particular,
// a blank line dispatches an event only when its block had a data field:
// a block of only an event, id or retry field delivers nothing.
//
// A message's ID is the event's id when it differs from the id in force for
// the previous event delivered; an event without an id field (or one
// repeating the previous id) has an empty ID rather than inheriting one. An
// id set by a block that delivers nothing is in force for the events that
// follow, so the next event delivered carries it as its ID (unless it is
// the id already in force), and a cursor kept from IDs moves on with that
// event. An empty id field clears the id in force, which no ID can show: the
// next event's ID is then empty. Event is the event field, empty for
// unnamed events (a browser would say "message"). When liveness is on,
// any byte from the server, comment lines included, proves the connection
// alive. A retry field is reported as the RetryAfter of the error that ends
// the stream. An event whose raw form exceeds MaxMessageSize plus 64 KiB of
// field overhead ends the stream with ErrMessageTooLarge, as does one whose
// data exceeds MaxMessageSize.
//
// With a Request.Decoder, the data of an event whose ID would be empty by
// the rule above (no id field, or one repeating the previous id) is decoded:
// each message the Decoder finds is delivered in its place, in order, with
// the event's type when it names none, and each is held to MaxMessageSize
// too. An event the Decoder fails on, or finds nothing in, is delivered as it
// came; an event whose own id is delivered is never decoded.
//
// Its streams implement Pusher: read through Push, a stream saves the
// goroutine that Next needs to pull from go-sse's push-style parser. They
// implement Sender too: Send POSTs to SendURL.
type SSE struct {
	// URL is the http or https address of the event stream. Required. Its
	// query parameters are kept, except those that Request.Query replaces.
	URL string

	// SendURL is where the stream's Send POSTs its data, http or https,
	// with Request.Query applied. Default URL. A SendURL that is not an
	// absolute http or https URL fails Open with a permanent *Error. The
	// POST goes through the request's client with its Timeout, if any,
	// which the event stream itself does without.
	SendURL string

	// HandshakeTimeout bounds the wait for the response headers; it never
	// applies to the stream that follows. Zero means the heartbeat budget,
	// Request.Heartbeat's Interval+Timeout (an SSE server sends its headers
	// at once, so one that has sent nothing by then is as dead as a silent
	// stream), or 10 seconds when the heartbeat is off. A positive value
	// replaces it; a negative value sets no bound of its own. When the HTTP
	// client has a Timeout, that is used as a handshake bound too, and the
	// smaller of the two applies.
	HandshakeTimeout time.Duration
}

var _ Transport = (*SSE)(nil)

// Name returns NameSSE.
func (s *SSE) Name() string { return NameSSE }

// Open sends the GET request, with req.Query in its URL and Last-Event-ID set
// to req.Cursor when there is one, and returns once the response headers
// have arrived. A 200 answer of type text/event-stream (whatever its
// parameters: a charset changes nothing) opens the stream;
// another type is Unsupported (ErrBadContentType), 204 is EndOfStream, and
// other statuses are classified by ClassifyStatus with their Retry-After.
// Headers in req.Header override the default Accept and Cache-Control.
func (s *SSE) Open(ctx context.Context, req Request) (Stream, error) {
	u, err := parseHTTPURL(s.URL)
	if err != nil {
		return nil, &Error{Transport: NameSSE, Op: "open", Class: Permanent, Err: err}
	}
	target, perr := sendTarget(NameSSE, s.SendURL, u, req.Query)
	if perr != nil {
		return nil, perr
	}
	client, handshake := sseHTTPClient(requestClient(req), connectTimeout(s.HandshakeTimeout, req.Heartbeat))

	// life outlasts the request, which a failure or a stop of the stream
	// cancels, to bound Send until the stream is closed.
	life, end := context.WithCancelCause(ctx)
	rctx, cancel := context.WithCancel(life)
	abort := func() { cancel(); end(net.ErrClosed) }
	hreq, err := http.NewRequestWithContext(rctx, http.MethodGet, withQuery(u, req.Query).String(), nil)
	if err != nil {
		abort()
		return nil, redactQuery(&Error{Transport: NameSSE, Op: "open", Class: Permanent, Err: err}, req.Query)
	}
	sseSetHeaders(hreq.Header, req)

	// The handshake bound cancels the request, so it must be off before the
	// body is handed over; a timer that fired meanwhile has doomed the request.
	var timer *time.Timer
	fired := make(chan struct{})
	if handshake > 0 {
		timer = time.AfterFunc(handshake, func() { cancel(); close(fired) })
	}
	resp, err := client.Do(hreq)
	timedOut := timer != nil && !timer.Stop()
	if timedOut {
		<-fired
	}
	if err != nil || timedOut {
		if resp != nil {
			resp.Body.Close()
		}
		abort()
		switch {
		case timedOut && ctx.Err() != nil:
			err = ctx.Err()
		case timedOut:
			err = &plainError{text: fmt.Sprintf("no response headers within %v", roundDuration(handshake)), err: context.DeadlineExceeded}
		}
		return nil, redactQuery(requestError(NameSSE, "open", streamExchange, err), req.Query)
	}
	if e := sseCheckResponse(resp); e != nil {
		resp.Body.Close()
		abort()
		return nil, e
	}
	sender := newHTTPSender(NameSSE, target, requestClient(req), req, life)
	return newSSEStream(resp.Body, cancel, end, sender, req), nil
}

// sseHTTPClient returns a shallow copy of c without a Timeout, which would
// cut the streaming body, and the handshake bound to apply instead: handshake
// (none when negative), lowered to c's Timeout. The copy reports a redirect
// loop as ErrTooManyRedirects unless the caller set a CheckRedirect of
// their own.
func sseHTTPClient(c *http.Client, handshake time.Duration) (*http.Client, time.Duration) {
	if c.Timeout > 0 && (handshake < 0 || c.Timeout < handshake) {
		handshake = c.Timeout
	}
	cp := *c
	cp.Timeout = 0
	if cp.CheckRedirect == nil {
		cp.CheckRedirect = checkRedirects
	}
	return &cp, handshake
}

// sseSetHeaders fills the request headers. The values are copied, so that the
// request keeps no reference to req.Header's slices.
func sseSetHeaders(h http.Header, req Request) {
	h.Set("Accept", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	for k, vs := range req.Header {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if req.Cursor != "" {
		h.Set("Last-Event-ID", req.Cursor)
	} else {
		h.Del("Last-Event-ID")
	}
}

// sseCheckResponse returns nil for a response that opens a stream, and the
// reason otherwise.
func sseCheckResponse(resp *http.Response) *Error {
	switch resp.StatusCode {
	case http.StatusOK:
		// The type's essence decides; parameters, even malformed ones (which
		// ParseMediaType reports along with the type), do not matter.
		ct := resp.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if (err == nil || errors.Is(err, mime.ErrInvalidMediaParameter)) && mt == "text/event-stream" {
			return nil
		}
		return &Error{Transport: NameSSE, Op: "open", Class: Unsupported, StatusCode: resp.StatusCode,
			Err: &plainError{text: fmt.Sprintf("server answered %s with content type %q, not text/event-stream", statusText(resp.StatusCode), ct),
				status: resp.StatusCode, err: ErrBadContentType}}
	case http.StatusNoContent:
		return &Error{Transport: NameSSE, Op: "open", Class: EndOfStream, StatusCode: resp.StatusCode,
			Err: &plainError{text: "server answered 204 No Content: no more events", status: resp.StatusCode}}
	}
	return answerError(NameSSE, "open", streamExchange, resp, nil)
}
