package transport

import (
	"net/url"
	"strings"
)

// minSecretLen is the length below which a value is not treated as a
// secret: replacing "1" everywhere would garble the error instead.
const minSecretLen = 4

// redacted is an error whose text has had secrets replaced; it unwraps to
// the original, so errors.Is and errors.As still see the whole chain.
type redacted struct {
	text string
	err  error
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

// redactQuery returns e with every value of query (credentials sent in the
// URL) replaced by "REDACTED" in the text of its cause. net/http and
// coder/websocket print the whole URL of a failed request. A value is
// replaced both as it is and as it appears in an encoded query.
func redactQuery(e *Error, query url.Values) *Error {
	if e == nil || e.Err == nil || len(query) == 0 {
		return e
	}
	var secrets []string
	for _, vs := range query {
		for _, v := range vs {
			if len(v) >= minSecretLen {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
		}
	}
	text := e.Err.Error()
	clean := text
	for _, v := range secrets {
		clean = strings.ReplaceAll(clean, v, "REDACTED")
	}
	if clean != text {
		e.Err = &redacted{text: clean, err: e.Err}
	}
	return e
}
