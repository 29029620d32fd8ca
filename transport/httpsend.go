package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// httpSender is the Send of the streams of SSE, LongPoll and Poll: each call
// POSTs its data to the transport's SendURL with the stream's client and the
// request's Header and Query. It holds nothing that changes after Open, so
// any number of Sends may run at once, alongside Next or Push.
type httpSender struct {
	name   string
	url    string // SendURL, or the transport's URL, with Request.Query applied
	client *http.Client
	header http.Header // Request.Header as it was at Open
	query  url.Values  // Request.Query as it was at Open, to redact from errors
	// life ends when the stream is closed or the ctx given to Open ends:
	// no POST starts after that, and one in flight is cancelled.
	life context.Context
}

// sendTarget returns the URL Send posts to: sendURL when set, which must be
// an absolute http or https URL, and def otherwise; q is applied to either.
func sendTarget(name, sendURL string, def *url.URL, q url.Values) (*url.URL, *Error) {
	u := def
	if sendURL != "" {
		var err error
		if u, err = parseHTTPURL(sendURL); err != nil {
			return nil, &Error{Transport: name, Op: "open", Class: Permanent, Err: fmt.Errorf("SendURL: %w", err)}
		}
	}
	return withQuery(u, q), nil
}

// newHTTPSender makes the sender of a stream opened for req.
func newHTTPSender(name string, target *url.URL, client *http.Client, req Request, life context.Context) httpSender {
	header := req.Header.Clone()
	if header == nil {
		header = make(http.Header)
	}
	return httpSender{
		name:   name,
		url:    target.String(),
		client: client,
		header: header,
		query:  cloneValues(req.Query),
		life:   life,
	}
}

// send POSTs data, typed application/json when it is valid JSON and
// text/plain otherwise, with key as its Idempotency-Key when not empty. It
// returns nil once the server has answered 2xx.
func (h *httpSender) send(ctx context.Context, data []byte, key string) error {
	if h.life.Err() != nil {
		return h.fail(Transient, h.closedErr())
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	unhook := context.AfterFunc(h.life, func() { cancel(net.ErrClosed) })
	defer unhook()

	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, h.url, bytes.NewReader(data))
	if err != nil {
		return h.fail(Permanent, err)
	}
	hreq.Header = h.header.Clone()
	if json.Valid(data) {
		hreq.Header.Set("Content-Type", "application/json")
	} else {
		hreq.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	if key != "" {
		hreq.Header.Set("Idempotency-Key", key)
	}
	resp, err := h.client.Do(hreq)
	if err != nil {
		switch {
		case h.life.Err() != nil:
			return h.fail(Transient, h.closedErr())
		case ctx.Err() != nil:
			return h.fail(Transient, ctx.Err())
		}
		return redactQuery(requestError(h.name, "send", sendExchange, err), h.query)
	}
	defer pollDrainClose(resp.Body)

	if resp.Request != nil && resp.Request.Method != http.MethodPost {
		// A 301, 302 or 303 made net/http follow with a GET: whatever
		// answered it, the data was not delivered.
		e := h.fail(Permanent, fmt.Errorf("a redirect turned the POST into a %s", resp.Request.Method))
		if r := resp.Request.Response; r != nil {
			e.StatusCode = r.StatusCode
		}
		return e
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return redactQuery(answerError(h.name, "send", sendExchange, resp, nil), h.query)
}

// closedErr is the cause of a Send on a stream that has been closed.
func (h *httpSender) closedErr() error {
	if cause := context.Cause(h.life); cause != nil && !errors.Is(cause, net.ErrClosed) {
		return fmt.Errorf("stream closed (%w): %w", cause, net.ErrClosed)
	}
	return fmt.Errorf("stream closed: %w", net.ErrClosed)
}

// fail makes the error of a Send, without the values of Request.Query in
// its text.
func (h *httpSender) fail(class Class, err error) *Error {
	return redactQuery(&Error{Transport: h.name, Op: "send", Class: class, Err: err}, h.query)
}

// cloneValues returns a deep copy of q, nil for an empty one.
func cloneValues(q url.Values) url.Values {
	if len(q) == 0 {
		return nil
	}
	cp := make(url.Values, len(q))
	for k, vs := range q {
		cp[k] = append([]string(nil), vs...)
	}
	return cp
}
