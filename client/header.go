package client

import (
	"fmt"
	"net/http"
	"strings"
)

// checkHeader reports the first field of h that no request could carry: a
// name that is not an HTTP token, or a value with a CR, LF or NUL (which
// would split the header). Such a header can never be sent, so it is a
// configuration error, not something to retry.
func checkHeader(h http.Header) error {
	for name, values := range h {
		if !validFieldName(name) {
			return fmt.Errorf("header name %q is not a valid HTTP field name", name)
		}
		for _, v := range values {
			if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
				return fmt.Errorf("header %s: value holds a %q, which would split the header", name, v[i])
			}
		}
	}
	return nil
}

// validFieldName reports whether name is an HTTP token (RFC 9110 5.1).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
