package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// This file holds what LongPoll and Poll share: one stream type that issues
// GET URL?since=<cursor> requests one after another, buffers the messages of
// each response and hands them out from Next. The two transports differ only
// in the request deadline and in the pause between requests, which they pass
// in a pollSpec. Its Send is httpSender's.
//
// Requests are conditional: the ETag and Last-Modified of a 200 answer go
// back as If-None-Match and If-Modified-Since on the next request for the
// same URL (that is, while the cursor has not moved), so that a server
// whose answer has not changed can say 304 Not Modified, which costs no
// body and no decoding and delivers nothing. The pause before the next
// request is at least what the last answer asked for, in X-Poll-Interval
// (seconds, as GitHub's API sends it) or Retry-After.

const (
	// defaultMaxResponseSize bounds one poll response body when the
	// transport leaves MaxResponseSize at zero.
	defaultMaxResponseSize = 16 << 20
	// pollDrainLimit is how much of an unread body is drained so that its
	// connection can be reused; a longer rest closes the connection instead.
	pollDrainLimit = 64 << 10
)

// pollSpec is how a polling transport configures the shared stream.
type pollSpec struct {
	name        string
	rawURL      string
	sendURL     string        // "" means rawURL
	cursorParam string        // "" means DefaultCursorParam
	decoder     Decoder       // nil means Request.Decoder, then DecodeJSON
	maxResponse int64         // <= 0 means defaultMaxResponseSize
	timeout     time.Duration // deadline of one request, body included
	interval    time.Duration // least pause from the end of a request to the start of the next
	emptyGap    time.Duration // least time from the start of a request that brought nothing to the start of the next
}

// pollStream is the Stream of LongPoll and Poll. Next runs every request on
// the caller's goroutine; the stream starts no goroutine of its own.
type pollStream struct {
	name        string
	url         *url.URL // with Request.Query applied
	cursorParam string
	decoder     Decoder
	maxResponse int64
	maxMessage  int64
	timeout     time.Duration
	interval    time.Duration
	emptyGap    time.Duration
	client      *http.Client
	header      http.Header
	sender      httpSender // reads only what Open set, so needs no lock
	streaming   bool       // decoding by default: bodies are decoded as they are read

	// life ends when Close is called or the ctx given to Open ends; every
	// request and every pause is cut short by it.
	life context.Context
	stop context.CancelCauseFunc

	// busy is held by Next for as long as it runs, so Close can wait for it.
	busy sync.Mutex
	// The fields below are guarded by busy.
	cursor    string    // id of the last message returned that had one
	buf       []Message // messages of the last response not yet returned
	pending   error     // failure to report once buf is empty
	err       error     // the error that finished the stream, returned again by every Next
	lastStart time.Time // when the last request started
	lastEnd   time.Time // when the last request finished
	lastEmpty bool      // the last request succeeded with no message

	// hint is the least pause the last answer asked for; etag and
	// lastModified are the validators of the last 200 answer, which
	// answered the URL validFor.
	hint                         time.Duration
	etag, lastModified, validFor string

	env envDecoder // the default decoding's scratch; guarded by busy

	// notify, when set (see ReadNotifier), runs whenever Next has no
	// buffered message left and is about to pause or request.
	notify func()

	// waitHook, when set (by tests), is called with the length of each pause
	// between requests just before it starts.
	waitHook func(time.Duration)
}

var (
	_ Stream = (*pollStream)(nil)
	_ Sender = (*pollStream)(nil)
)

// openPolling validates spec, makes the first request and returns a stream
// that holds its messages. Failures of the first request are returned here,
// with Op "open", so that the client learns at once that the endpoint is
// missing (404) or refuses it (401).
func openPolling(ctx context.Context, req Request, spec pollSpec) (*pollStream, error) {
	u, err := parseHTTPURL(spec.rawURL)
	if err != nil {
		return nil, &Error{Transport: spec.name, Op: "open", Class: Permanent, Err: err}
	}
	target, perr := sendTarget(spec.name, spec.sendURL, u, req.Query)
	if perr != nil {
		return nil, perr
	}
	s := &pollStream{
		name:        spec.name,
		url:         withQuery(u, req.Query),
		cursorParam: spec.cursorParam,
		decoder:     spec.decoder,
		maxMessage:  req.maxMessageSize(),
		maxResponse: spec.maxResponse,
		timeout:     spec.timeout,
		interval:    spec.interval,
		emptyGap:    spec.emptyGap,
		client:      requestClient(req),
		header:      req.Header.Clone(),
		cursor:      req.Cursor,
	}
	if s.cursorParam == "" {
		s.cursorParam = DefaultCursorParam
	}
	if s.decoder == nil {
		s.decoder = req.Decoder
	}
	if s.decoder == nil {
		s.decoder, s.streaming = DecodeJSON, true
	}
	if s.maxResponse <= 0 {
		s.maxResponse = defaultMaxResponseSize
	}
	s.maxResponse = max(s.maxResponse, s.maxMessage)
	if s.header == nil {
		s.header = make(http.Header)
	}
	if s.header.Get("Accept") == "" {
		s.header.Set("Accept", "application/json")
	}
	s.life, s.stop = context.WithCancelCause(ctx)
	s.sender = newHTTPSender(spec.name, target, s.client, req, s.life)

	msgs, pending, err := s.fetch(s.life, "open")
	if err == nil && len(msgs) == 0 && pending != nil {
		err = pending // nothing to deliver before the failure: report it now
	}
	if err != nil {
		s.stop(err)
		return nil, err
	}
	s.buf, s.pending = msgs, pending
	return s, nil
}

// Next returns the next buffered message, making requests (after the
// transport's pause) until one brings something or fails.
func (s *pollStream) Next(ctx context.Context) (Message, error) {
	s.busy.Lock()
	defer s.busy.Unlock()
	for s.err == nil {
		switch {
		case s.life.Err() != nil:
			s.err = s.fail("read", context.Cause(s.life))
		case len(s.buf) > 0:
			m := s.buf[0]
			s.buf[0] = Message{}
			s.buf = s.buf[1:]
			if len(s.buf) == 0 {
				s.buf = nil // the array goes with its last message, not with the next poll
			}
			if m.ID != "" {
				s.cursor = m.ID
			}
			return m, nil
		case s.pending != nil:
			s.err, s.pending = s.pending, nil
		default:
			if s.notify != nil {
				s.notify()
			}
			if err := s.pause(ctx); err != nil {
				s.err = err
				break
			}
			msgs, pending, err := s.fetch(ctx, "read")
			s.buf, s.pending, s.err = msgs, pending, err
		}
	}
	return Message{}, s.err
}

// NotifyRead implements ReadNotifier: f runs each time every message of
// the last response has been returned, before the pause and the request
// that follow.
func (s *pollStream) NotifyRead(f func()) { s.notify = f }

// Send implements Sender: it POSTs data to the transport's SendURL with the
// stream's client, header and query (see httpSender.send). It does not wait
// for Next, and fails without sending once the stream has been closed.
func (s *pollStream) Send(ctx context.Context, data []byte, key string) error {
	return s.sender.send(ctx, data, key)
}

// Close stops the stream: it cancels a request or pause in progress and any
// Send in flight, and returns once Next, if it was running, has returned. It
// is idempotent.
func (s *pollStream) Close() error {
	s.stop(net.ErrClosed)
	s.busy.Lock()
	s.buf = nil
	s.busy.Unlock()
	return nil
}

// pause waits until interval, or the server's hint when longer, has passed
// since the end of the last request and, when that request brought
// nothing, until emptyGap has passed since it started. Time the caller
// spent consuming the buffer counts toward both.
func (s *pollStream) pause(ctx context.Context) error {
	d := max(s.interval, s.hint) - time.Since(s.lastEnd)
	if s.lastEmpty {
		d = max(d, s.emptyGap-time.Since(s.lastStart))
	}
	if d <= 0 {
		return nil
	}
	if s.waitHook != nil {
		s.waitHook(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return s.fail("read", ctx.Err())
	case <-s.life.Done():
		return s.fail("read", context.Cause(s.life))
	}
}

// fetch makes one request. It returns the messages of a successful response
// up to the first one over the size limit, whose failure it returns as
// pending; err is set when the request as a whole failed.
func (s *pollStream) fetch(ctx context.Context, op string) (msgs []Message, pending, err error) {
	s.lastStart = time.Now()
	defer func() {
		s.lastEnd = time.Now()
		s.lastEmpty = err == nil && pending == nil && len(msgs) == 0
	}()
	rctx, cancel := context.WithTimeoutCause(ctx, s.timeout, ErrStalled)
	defer cancel()
	unhook := context.AfterFunc(s.life, cancel)
	defer unhook()

	u := s.requestURL()
	hreq, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, redactQuery(&Error{Transport: s.name, Op: op, Class: Permanent, Err: err}, s.sender.query)
	}
	hreq.Header = s.header
	if s.validFor == u && (s.etag != "" || s.lastModified != "") {
		hreq.Header = s.header.Clone()
		if s.etag != "" {
			hreq.Header.Set("If-None-Match", s.etag)
		}
		if s.lastModified != "" {
			hreq.Header.Set("If-Modified-Since", s.lastModified)
		}
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		return nil, nil, redactQuery(s.requestError(ctx, rctx, op, err), s.sender.query)
	}
	defer pollDrainClose(resp.Body)

	switch resp.StatusCode {
	case http.StatusOK:
		s.hint = pollHint(resp)
	case http.StatusNoContent, http.StatusNotModified:
		s.hint = pollHint(resp)
		return nil, nil, nil
	default:
		return nil, nil, answerError(s.name, op, streamExchange, resp, nil)
	}
	if resp.ContentLength > s.maxResponse {
		return nil, nil, s.tooLarge(op, "response of %d bytes exceeds the limit of %d", resp.ContentLength, s.maxResponse)
	}
	if s.streaming {
		// The default decoding reads the body as it arrives (decodeReader).
		msgs, err = s.env.decodeReader(resp.Body, s.maxResponse)
		switch {
		case errors.Is(err, errBodyTooLarge):
			return nil, nil, s.tooLarge(op, "response exceeds the limit of %d bytes", s.maxResponse)
		case err != nil && !errors.Is(err, ErrMalformed):
			return nil, nil, s.requestError(ctx, rctx, op, err)
		}
	} else {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, s.maxResponse+1))
		if err != nil {
			return nil, nil, s.requestError(ctx, rctx, op, err)
		}
		if int64(len(body)) > s.maxResponse {
			return nil, nil, s.tooLarge(op, "response exceeds the limit of %d bytes", s.maxResponse)
		}
		msgs, err = s.decoder(body)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return nil, nil, s.fail(op, err)
	}
	s.etag, s.lastModified, s.validFor = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), u
	for i, m := range msgs {
		if int64(len(m.Data)) > s.maxMessage {
			return msgs[:i], s.fail(op, &TooLargeError{ID: m.ID, Size: int64(len(m.Data)), Limit: s.maxMessage}), nil
		}
	}
	return msgs, nil, nil
}

// requestURL is the URL, with Request.Query applied, and with the cursor
// parameter set once there is a cursor.
func (s *pollStream) requestURL() string {
	if s.cursor == "" {
		return s.url.String()
	}
	u := *s.url
	q := u.Query()
	q.Set(s.cursorParam, s.cursor)
	u.RawQuery = q.Encode()
	return u.String()
}

// requestError classifies a failed round trip or body read. ctx is the
// caller's context and rctx the request's own, derived from it.
func (s *pollStream) requestError(ctx, rctx context.Context, op string, err error) *Error {
	switch {
	case s.life.Err() != nil:
		return s.fail(op, context.Cause(s.life))
	case ctx.Err() != nil:
		return s.fail(op, ctx.Err())
	case rctx.Err() != nil && errors.Is(context.Cause(rctx), ErrStalled):
		return s.fail(op, fmt.Errorf("%w: no complete response within %v", ErrStalled, roundDuration(s.timeout)))
	}
	return requestError(s.name, op, streamExchange, err)
}

// fail wraps err as a transient failure of op.
func (s *pollStream) fail(op string, err error) *Error {
	return &Error{Transport: s.name, Op: op, Class: Transient, Err: err}
}

func (s *pollStream) tooLarge(op, format string, args ...any) *Error {
	return s.fail(op, fmt.Errorf("%w: "+format, append([]any{ErrMessageTooLarge}, args...)...))
}

// pollHint returns the least pause before the next request that an answer
// asks for: X-Poll-Interval in seconds or Retry-After, the longer of the
// two; zero when it asks none.
func pollHint(resp *http.Response) time.Duration {
	d := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if secs, err := strconv.ParseInt(resp.Header.Get("X-Poll-Interval"), 10, 64); err == nil && secs > 0 {
		d = max(d, time.Duration(min(secs, maxPollHint))*time.Second)
	}
	return d
}

// maxPollHint caps X-Poll-Interval, in seconds: one year, as for Retry-After.
const maxPollHint = 365 * 24 * 3600

// pollDrainClose reads a little of what is left of body, so that a short
// rest does not cost the connection, and closes it.
func pollDrainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, pollDrainLimit)
	_ = body.Close()
}
