package transport

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// streamAccept is the Accept header of an HTTPStream request, unless
// Request.Header sets one.
const streamAccept = "application/x-ndjson, application/json-seq, application/json, */*;q=0.5"

// HTTPStream is the HTTP streaming transport: one GET request whose
// response body is an endless sequence of JSON values, as CouchDB's
// continuous _changes feed, a Kubernetes watch, or a Node server writing
// JSON.stringify(update) to a response it never ends send them. Format says
// how the values are separated; each value goes through the decoder (see
// below) and yields zero or more messages, in order. Whitespace between
// values (blank lines included) carries no message but, like every byte,
// proves the connection alive.
//
// The request is GET URL?<CursorParam>=<cursor> when there is a cursor,
// the URL as given otherwise, with Request.Query and Request.Header. A 200
// answer opens the stream whatever its content type; 204 is the end of the
// stream; other statuses are classified by ClassifyStatus with their
// Retry-After, except one:
//
// A 410 Gone answered to a request carrying a cursor means the server no
// longer has the history after it (a Kubernetes watch whose resourceVersion
// is too old). That is a gap, not an end: Open asks again without the
// cursor, from the server's current position, and the stream's first
// message is a gap marker (Message.Gap), which the client reports as a gap
// before delivering what follows. A server that signals a cursor too old
// inside the body instead (an ERROR event) needs a Decoder that turns that
// value into a gap marker.
//
// Decoding: the Decoder (the transport's, else Request.Decoder) is called
// with each value; a value it fails on is delivered whole as one message
// without id, so that nothing is lost. Without a decoder, each value is
// read as a WebSocket frame is: a message envelope or a list of them (see
// DecodeJSON), and otherwise one message without id whose Data is the
// whole value. A Decoder made from Fields with an Items path yields one
// message per item of a value that holds a list.
//
// Bounds: a value longer than MaxMessageSize ends the stream with a
// *TooLargeError (ErrMessageTooLarge), carrying the value's id when the
// stream could tell it (a value it read whole; or, decoded by default, an
// envelope whose id comes before the cut), so that the client can skip it.
// The stream never holds more than one value's worth of the body.
//
// Liveness is as for SSE: when Request.Heartbeat is on, no byte at all for
// Interval+Timeout while the stream waits for one ends it with a
// *SilenceError. A clean end of the body is transient (the client
// reconnects from its cursor), as is a body cut in the middle of a value.
//
// HTTP versions: the request goes through Request.HTTPClient, so over TLS
// it speaks HTTP/2 whenever that client's transport negotiates it
// (http.DefaultTransport and its clones do), and HTTP/1.1 chunked
// otherwise. H2C speaks cleartext HTTP/2 to http:// URLs. A stream and the
// requests of its Send go through the same client: over HTTP/2 they share
// one connection. So do the requests of every other HTTP transport given
// the same Request.HTTPClient (a Config.HTTPClient): for cleartext HTTP/2
// throughout, give them a client whose transport has Protocols with
// UnencryptedHTTP2 and HTTP2 but not HTTP1, which H2C then uses as it is.
//
// Its streams implement Sender: Send POSTs to SendURL with the stream's
// client, Header and Query, and its key as the Idempotency-Key header. They
// do not implement Pusher: Next reads the body in the caller's goroutine
// already, so a push-style read would save nothing.
//
// The zero value of every field but URL means its documented default. An
// HTTPStream is safe for concurrent use and is not modified by Open.
type HTTPStream struct {
	// URL is the http or https address of the stream. Required. Its query
	// parameters are kept, except those that Request.Query replaces and
	// the cursor parameter when there is a cursor.
	URL string

	// SendURL is where the stream's Send POSTs its data, http or https,
	// with Request.Query applied but no cursor. Default URL. A SendURL that
	// is not an absolute http or https URL fails Open with a permanent
	// *Error.
	SendURL string

	// CursorParam names the query parameter that carries the id of the
	// last message received. Default DefaultCursorParam ("since").
	CursorParam string

	// Format says how the body separates its values. Default FormatAuto.
	Format StreamFormat

	// Split, when set, cuts the body into units instead of Format, as for
	// a bufio.Scanner; each token goes to the decoder, and an empty token
	// is a heartbeat. SplitScripts cuts a "forever frame" body into its
	// <script> chunks, for a ForeverFrame decoder.
	Split bufio.SplitFunc

	// Decoder turns each value into messages. Default Request.Decoder,
	// and the envelope-or-whole reading described on HTTPStream when that
	// is nil too.
	Decoder Decoder

	// H2C speaks HTTP/2 with prior knowledge to http:// URLs (cleartext
	// HTTP/2, which has no negotiation: the server must speak it, or the
	// request fails). It needs Request.HTTPClient's transport to be an
	// *http.Transport (nil means http.DefaultTransport): each Open uses a
	// clone of it whose Protocols are HTTP2 and UnencryptedHTTP2 only, so
	// an https URL must offer HTTP/2 too. The stream and its Sends share
	// the clone's one connection, which Close releases. When the client's
	// transport already speaks cleartext HTTP/2 only, it is used as it is.
	H2C bool

	// HandshakeTimeout bounds the wait for the response headers; it never
	// applies to the stream that follows. Zero means the heartbeat budget,
	// Request.Heartbeat's Interval+Timeout (10 seconds when the heartbeat
	// is off); a negative value sets no bound of its own. A Timeout of the
	// HTTP client bounds the headers too, and the smaller of the two
	// applies.
	HandshakeTimeout time.Duration
}

var _ Transport = (*HTTPStream)(nil)

// Name returns NameStream.
func (h *HTTPStream) Name() string { return NameStream }

// Open sends the GET request and returns once the response headers have
// arrived (see HTTPStream for the answers it accepts, and for a 410 to a
// request with a cursor).
func (h *HTTPStream) Open(ctx context.Context, req Request) (Stream, error) {
	u, err := parseHTTPURL(h.URL)
	if err != nil {
		return nil, &Error{Transport: NameStream, Op: "open", Class: Permanent, Err: err}
	}
	if h.Format > FormatJSONSeq {
		return nil, &Error{Transport: NameStream, Op: "open", Class: Permanent, Err: fmt.Errorf("unknown %v", h.Format)}
	}
	target, perr := sendTarget(NameStream, h.SendURL, u, req.Query)
	if perr != nil {
		return nil, perr
	}
	base, own, err := h.client(requestClient(req))
	if err != nil {
		return nil, &Error{Transport: NameStream, Op: "open", Class: Permanent, Err: err}
	}
	release := func() {
		if own != nil {
			own.CloseIdleConnections()
		}
	}
	client, handshake := sseHTTPClient(base, connectTimeout(h.HandshakeTimeout, req.Heartbeat))
	u = withQuery(u, req.Query)

	// life outlasts the request, which a failure or a stop of the stream
	// cancels, to bound Send until the stream is closed.
	life, end := context.WithCancelCause(ctx)
	gap := false
	resp, cancel, fail := streamGet(life, client, handshake, h.requestURL(u, req.Cursor), req)
	if fail == nil && resp.StatusCode == http.StatusGone && req.Cursor != "" {
		// The history after the cursor is gone: go on from now, and say so.
		pollDrainClose(resp.Body)
		cancel()
		gap = true
		resp, cancel, fail = streamGet(life, client, handshake, u.String(), req)
	}
	if fail == nil {
		if fail = streamCheckResponse(resp); fail != nil {
			resp.Body.Close()
		}
	}
	if fail != nil {
		cancel()
		end(net.ErrClosed)
		release()
		return nil, redactQuery(fail, req.Query)
	}
	sender := newHTTPSender(NameStream, target, base, req, life)
	decoder := h.Decoder
	if decoder == nil {
		decoder = req.Decoder
	}
	s := newHTTPStreamConn(resp.Body, newFramer(h.Format, h.Split), decoder, req, cancel, end, release, sender)
	if gap {
		s.queue = append(s.queue, Message{Gap: true})
	}
	return s, nil
}

// requestURL is u with the cursor parameter set when there is a cursor.
func (h *HTTPStream) requestURL(u *url.URL, cursor string) string {
	if cursor == "" {
		return u.String()
	}
	param := h.CursorParam
	if param == "" {
		param = DefaultCursorParam
	}
	cp := *u
	q := cp.Query()
	q.Set(param, cursor)
	cp.RawQuery = q.Encode()
	return cp.String()
}

// client returns the client Open uses, and the transport it made for H2C
// (nil when it made none), whose idle connections the stream closes when
// it ends.
func (h *HTTPStream) client(c *http.Client) (*http.Client, *http.Transport, error) {
	if !h.H2C {
		return c, nil, nil
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return nil, nil, fmt.Errorf("H2C needs the HTTP client's transport to be an *http.Transport, not %T", rt)
	}
	if p := t.Protocols; p != nil && p.UnencryptedHTTP2() && !p.HTTP1() {
		return c, nil, nil // it speaks cleartext HTTP/2 already
	}
	t = t.Clone()
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP2(true)
	t.Protocols.SetUnencryptedHTTP2(true)
	cp := *c
	cp.Transport = t
	return &cp, t, nil
}

// streamGet sends the GET of a stream under a context of its own, derived
// from life, whose cancel function it returns with the response. The
// response headers must arrive within handshake (when positive); the body
// that follows is not bounded.
func streamGet(life context.Context, client *http.Client, handshake time.Duration, rawURL string, req Request) (*http.Response, context.CancelFunc, *Error) {
	rctx, cancel := context.WithCancel(life)
	hreq, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, cancel, &Error{Transport: NameStream, Op: "open", Class: Permanent, Err: err}
	}
	hreq.Header.Set("Accept", streamAccept)
	for k, vs := range req.Header {
		hreq.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}

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
	if err == nil && !timedOut {
		return resp, cancel, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	switch {
	case timedOut && life.Err() != nil:
		err = life.Err()
	case timedOut:
		err = &plainError{text: fmt.Sprintf("no response headers within %v", roundDuration(handshake)), err: context.DeadlineExceeded}
	}
	return nil, cancel, requestError(NameStream, "open", streamExchange, err)
}

// streamCheckResponse returns nil for a response that opens a stream, and
// the reason otherwise.
func streamCheckResponse(resp *http.Response) *Error {
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNoContent:
		return &Error{Transport: NameStream, Op: "open", Class: EndOfStream, StatusCode: resp.StatusCode,
			Err: &plainError{text: "server answered 204 No Content: no more messages", status: resp.StatusCode}}
	}
	return answerError(NameStream, "open", streamExchange, resp, nil)
}
