package transport

import (
	"errors"
	"net/http"
	"time"
)

// exchange names the kind of HTTP request whose failure is classified: the
// same answer means different things to a WebSocket handshake, to the GET
// of a stream transport, and to the POST of Send.
type exchange int

const (
	// handshakeExchange is a WebSocket opening handshake: anything but a
	// proper 101 is an upgrade refused by the server or a proxy.
	handshakeExchange exchange = iota + 1
	// streamExchange is the GET of SSE, a long poll or a poll.
	streamExchange
	// sendExchange is the POST of Send.
	sendExchange
)

// classify returns the class of a failed exchange of kind x, following the
// table documented on Class. code is the status of the server's answer,
// zero when none arrived; err is why the request failed, nil when the answer
// itself is the failure. It is the one place where statuses and request
// errors get their class, for every transport.
func classify(x exchange, code int, err error) Class {
	switch {
	case errors.Is(err, ErrTooManyRedirects), tlsRejected(err):
		return Permanent // retrying meets the same loop or certificate
	case code == 0:
		return Transient // a network error or a timeout: no answer at all
	}
	switch code {
	case http.StatusUnauthorized, http.StatusProxyAuthRequired:
		return Permanent // the client refreshes credentials on 401 first
	case http.StatusForbidden:
		if x == sendExchange {
			return Permanent // the stream works; this data is refused
		}
		return Unsupported // the transport is refused here, e.g. by a proxy
	case http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusUpgradeRequired, http.StatusNotImplemented:
		return Unsupported
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return Transient
	case http.StatusGone:
		switch x {
		case streamExchange:
			return EndOfStream
		case sendExchange:
			return Permanent
		}
		return Unsupported
	}
	switch {
	case code >= 500:
		return Transient
	case x == handshakeExchange:
		// Any other answer, 4xx or 2xx or a 101 that broke the protocol,
		// comes from a server or proxy that does not upgrade here.
		return Unsupported
	case code >= 400:
		return Permanent
	}
	// A 1xx, 2xx or 3xx that the caller could not use: a surprise, which
	// may not last.
	return Transient
}

// answerError builds the *Error of an exchange that failed with an answer
// from the server: its class from classify, its status, and the delay the
// server asked for in Retry-After. cause, when not nil, is kept as the Err
// (the library's own error for the answer); otherwise Err describes the
// status.
func answerError(name, op string, x exchange, resp *http.Response, cause error) *Error {
	if cause == nil {
		cause = statusCause(resp, nil)
	}
	return &Error{
		Transport:  name,
		Op:         op,
		Class:      classify(x, resp.StatusCode, cause),
		StatusCode: resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Err:        cause,
	}
}

// requestError builds the *Error of an exchange that got no answer: err
// is why (a network error, a timeout, a redirect loop, a certificate
// refused).
func requestError(name, op string, x exchange, err error) *Error {
	return &Error{Transport: name, Op: op, Class: classify(x, 0, err), Err: err}
}
