package transport

import "fmt"

// Validator is implemented by a Transport that can check its configuration
// without connecting. The client calls it from Subscribe, so that a
// misconfigured rung (a URL with a bad scheme, say) is reported at once as
// an invalid config instead of ending the subscription the day the ladder
// first reaches it. All the built-in transports implement it.
type Validator interface {
	// Validate returns an error describing the first problem with the
	// transport's configuration, or nil.
	Validate() error
}

var (
	_ Validator = (*WebSocket)(nil)
	_ Validator = (*SSE)(nil)
	_ Validator = (*LongPoll)(nil)
	_ Validator = (*Poll)(nil)
	_ Validator = (*HTTPStream)(nil)
)

// Validate checks URL: ws, wss, http or https, with a host.
func (w *WebSocket) Validate() error {
	if _, err := w.dialURL("", nil); err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	return nil
}

// Validate checks URL and SendURL: absolute http or https URLs.
func (s *SSE) Validate() error { return validateHTTP(NameSSE, s.URL, s.SendURL) }

// Validate checks URL and SendURL: absolute http or https URLs.
func (l *LongPoll) Validate() error { return validateHTTP(NameLongPoll, l.URL, l.SendURL) }

// Validate checks URL and SendURL: absolute http or https URLs.
func (p *Poll) Validate() error { return validateHTTP(NamePoll, p.URL, p.SendURL) }

// validateHTTP checks the URL, and the send URL when set, of an HTTP
// transport.
func validateHTTP(name, rawURL, sendURL string) error {
	if _, err := parseHTTPURL(rawURL); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if sendURL != "" {
		if _, err := parseHTTPURL(sendURL); err != nil {
			return fmt.Errorf("%s: SendURL: %w", name, err)
		}
	}
	return nil
}

// Validate checks URL and SendURL (absolute http or https URLs) and Format.
func (h *HTTPStream) Validate() error {
	if h.Format > FormatJSONSeq {
		return fmt.Errorf("%s: unknown %v", NameStream, h.Format)
	}
	return validateHTTP(NameStream, h.URL, h.SendURL)
}
