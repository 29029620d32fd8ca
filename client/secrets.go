package client

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/anysub/anysub/transport"
)

// maxSecrets bounds how many secret values a subscription remembers: the
// values of the last few credentials, so that a token rotated every few
// seconds does not grow the set without end.
const maxSecrets = 32

// alwaysSecret are headers whose values are secrets whatever the config says.
var alwaysSecret = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}

// secrets holds the credential values a subscription has used, and scrubs
// them from error text before an error reaches an event, a log or Next.
type secrets struct {
	mu     sync.Mutex
	values []string // oldest first; each also kept in its URL-encoded form
}

// addHeader remembers the values of the secret headers of h.
func (s *secrets) addHeader(h http.Header, names []string) {
	for _, list := range [][]string{alwaysSecret, names} {
		for _, name := range list {
			for _, v := range h.Values(name) {
				s.add(v)
				// "Bearer abc": the token alone may show up too.
				if _, tok, ok := strings.Cut(v, " "); ok {
					s.add(tok)
				}
			}
		}
	}
}

// addCredentials remembers every value of c: all of them are secret.
func (s *secrets) addCredentials(c Credentials) {
	for _, vs := range c.Header {
		for _, v := range vs {
			s.add(v)
			if _, tok, ok := strings.Cut(v, " "); ok {
				s.add(tok)
			}
		}
	}
	for _, vs := range c.Query {
		for _, v := range vs {
			s.add(v)
		}
	}
	for _, v := range jsonStrings(c.Auth) {
		s.add(v)
	}
}

// add remembers v. Values too short to be secrets are left out: scrubbing
// "1" would garble every error.
func (s *secrets) add(v string) {
	v = strings.TrimSpace(v)
	if len(v) < 4 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.values {
		if have == v {
			return
		}
	}
	s.values = append(s.values, v)
	if enc := url.QueryEscape(v); enc != v {
		s.values = append(s.values, enc)
	}
	if n := len(s.values) - maxSecrets; n > 0 {
		s.values = append(s.values[:0], s.values[n:]...)
	}
}

// scrub returns err with every remembered secret replaced by "REDACTED" in
// its text. A *transport.Error at the top is copied with a scrubbed cause,
// so that errors.As finds a clean one; the rest of the chain stays
// reachable through Unwrap.
func (s *secrets) scrub(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	values := slices.Clone(s.values)
	s.mu.Unlock()
	// Longest first, so that a value containing another is replaced whole.
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
	text := err.Error()
	clean := replaceAll(text, values)
	if clean == text {
		return err
	}
	var te *transport.Error
	if errors.As(err, &te) && te == err {
		cp := *te
		if cp.Err != nil {
			cp.Err = &scrubbed{text: replaceAll(cp.Err.Error(), values), err: cp.Err}
		}
		return &cp
	}
	return &scrubbed{text: clean, err: err}
}

func replaceAll(text string, values []string) string {
	for _, v := range values {
		text = strings.ReplaceAll(text, v, "REDACTED")
	}
	return text
}

// scrubbed is an error whose text has had secrets removed; it unwraps to
// the original.
type scrubbed struct {
	text string
	err  error
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }
