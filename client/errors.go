package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/anysub/anysub/transport"
)

// ErrClosed is returned by Next after Close has been called.
var ErrClosed = errors.New("client: subscription closed")

// ErrInvalidConfig is wrapped by every error Subscribe returns for a bad Config.
var ErrInvalidConfig = errors.New("client: invalid config")

// UnsupportedError ends a subscription when every transport offered has
// answered that the server does not support it. Reasons holds one error per
// transport, in ladder order; it matches transport.ErrUnsupported.
type UnsupportedError struct {
	Reasons []error
}

// Error lists each transport's reason.
func (e *UnsupportedError) Error() string {
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		parts[i] = r.Error()
	}
	return "client: no offered transport is supported by the server: " + strings.Join(parts, "; ")
}

// Unwrap returns the per-transport reasons.
func (e *UnsupportedError) Unwrap() []error { return e.Reasons }

// Is reports whether target is transport.ErrUnsupported or transport.ErrPermanent:
// a subscription that ends this way will not recover by retrying.
func (e *UnsupportedError) Is(target error) bool {
	return target == transport.ErrUnsupported || target == transport.ErrPermanent
}

// GaveUpError ends a subscription that failed Config.MaxAttempts attempts
// in a row. Err is the failure of the last attempt; it matches
// transport.ErrPermanent, since the subscription will not retry.
type GaveUpError struct {
	Attempts int
	Err      error
}

// Error says how many attempts failed and why the last one did.
func (e *GaveUpError) Error() string {
	return fmt.Sprintf("client: gave up after %d failed attempts in a row: %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's failure.
func (e *GaveUpError) Unwrap() error { return e.Err }

// Is reports whether target is transport.ErrPermanent.
func (e *GaveUpError) Is(target error) bool { return target == transport.ErrPermanent }
