package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// defaultConnectTimeout bounds the connection phase of a WebSocket or SSE
// stream (the handshake, the wait for the response headers) when the
// heartbeat is off and the transport sets no bound of its own.
const defaultConnectTimeout = 10 * time.Second

// connectTimeout is the bound of the connection phase of a stream whose
// server answers at once (WebSocket, SSE): explicit when it is not zero;
// otherwise the heartbeat budget, Interval+Timeout, the silence after which
// an open stream counts as dead, so that a server that accepts connections
// and never answers is left as soon as a silent one would be; and
// defaultConnectTimeout when the heartbeat is off.
func connectTimeout(explicit time.Duration, hb Heartbeat) time.Duration {
	switch {
	case explicit != 0:
		return explicit
	case hb.Enabled():
		return hb.Interval + hb.Timeout
	}
	return defaultConnectTimeout
}

// maxRedirects is where a chain of redirects counts as a loop when the
// caller's http.Client has no CheckRedirect of its own; net/http's default
// policy stops at 10 too, but with an error that cannot be told apart.
const maxRedirects = 10

// checkRedirects is the CheckRedirect every transport installs on its copy
// of a client that has none: it reports a loop as ErrTooManyRedirects, a
// permanent failure, instead of a network error that would be retried.
func checkRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, len(via))
	}
	return nil
}

// requestClient returns the shallow copy of req's client that every
// transport makes its requests with (WebSocket handshakes, SSE, polls,
// Send). Its CheckRedirect first keeps req.Header to the host the caller
// chose: it deletes every field of req.Header from a redirected request
// whose host (name and port) is not that of the first request, unless
// req.ForwardHeadersCrossHost. It then applies the client's own
// CheckRedirect, or, when it has none, checkRedirects.
//
// net/http alone drops only Authorization, Www-Authenticate and cookies on
// such a redirect, and only when the domain changes, not the port: an API
// key in a header of its own would go wherever the server sent it.
func requestClient(req Request) *http.Client {
	cp := *req.httpClient()
	next := cp.CheckRedirect
	if next == nil {
		next = checkRedirects
	}
	cp.CheckRedirect = next
	if req.ForwardHeadersCrossHost || len(req.Header) == 0 {
		return &cp
	}
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	cp.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) > 0 && !strings.EqualFold(r.URL.Host, via[0].URL.Host) {
			for _, k := range keys {
				r.Header.Del(k)
				delete(r.Header, k) // a key that is not in canonical form
			}
		}
		return next(r, via)
	}
	return &cp
}

// parseHTTPURL accepts absolute http and https URLs only.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	return u, nil
}

// tlsRejected reports whether err is a failed certificate verification,
// which retrying cannot fix.
func tlsRejected(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) ||
		errors.As(err, &hostname) || errors.As(err, &invalid)
}

// withQuery returns a copy of u carrying every parameter of q, each one
// replacing all the values the URL already had for its key; u itself when q
// is empty. The copy keeps no reference to q's slices.
func withQuery(u *url.URL, q url.Values) *url.URL {
	if len(q) == 0 {
		return u
	}
	cp := *u
	vals := cp.Query()
	for k, vs := range q {
		vals[k] = slices.Clone(vs)
	}
	cp.RawQuery = vals.Encode()
	return &cp
}
