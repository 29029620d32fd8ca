package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/anysub/anysub/transport"
)

// open makes one connection attempt on rung: it asks Config.Credentials for
// this attempt's credentials (passing failure, the refusal that calls for a
// refresh, or nil) and opens the transport with them. When the server
// refuses the credentials and they were not just refreshed, the hook is
// asked again with that refusal and the attempt repeated once. refused
// reports whether the attempt's final answer was such a refusal.
func (sv *supervisor) open(ctx context.Context, rung int, failure error) (stream transport.Stream, err error) {
	s := sv.s
	tr := s.cfg.Transports[rung]
	for {
		req := s.request()
		req.Heartbeat.Interval *= sv.quiet.factor(rung)
		req.Session = sv.sessions.of(s, rung)
		if hook := s.cfg.Credentials; hook != nil {
			c, err := sv.credentials(ctx, hook, failure)
			if err != nil {
				return nil, err
			}
			applyCredentials(&req, c)
		}
		stream, err = tr.Open(ctx, req)
		if err == nil || failure != nil || s.cfg.Credentials == nil || !sv.refusesCredentials(err) {
			return stream, err
		}
		failure = err // refresh once and try again
	}
}

// credentials calls the hook, serialised so that calls never overlap, and
// remembers the values it returns as secrets.
func (sv *supervisor) credentials(ctx context.Context, hook func(context.Context, error) (Credentials, error), failure error) (Credentials, error) {
	sv.credMu.Lock()
	defer sv.credMu.Unlock()
	c, err := hook(ctx, sv.s.secrets.scrub(failure))
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			return Credentials{}, err
		}
		return Credentials{}, &transport.Error{Transport: "credentials", Op: "open", Class: transport.Transient, Err: err}
	}
	sv.s.secrets.addCredentials(c)
	if err := checkHeader(c.Header); err != nil {
		// No request can carry it: retrying would loop for ever.
		return Credentials{}, &transport.Error{Transport: "credentials", Op: "open", Class: transport.Permanent, Err: err}
	}
	return c, nil
}

// refusesCredentials reports whether err is the server refusing the
// credentials: 401, or 403 when configured so.
func (sv *supervisor) refusesCredentials(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	return te.StatusCode == http.StatusUnauthorized ||
		te.StatusCode == http.StatusForbidden && sv.s.cfg.RefreshOn403
}

// applyCredentials adds c to req, whose Header is its own copy.
func applyCredentials(req *transport.Request, c Credentials) {
	if len(c.Header) > 0 {
		if req.Header == nil {
			req.Header = make(http.Header, len(c.Header))
		}
		for k, vs := range c.Header {
			req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	if len(c.Query) > 0 {
		req.Query = c.Query
	}
	if c.Auth != nil {
		req.Auth = c.Auth
	}
}
