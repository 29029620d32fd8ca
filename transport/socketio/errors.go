package socketio

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anysub/anysub/transport"
)

// Conditions wrapped inside a *transport.Error.
var (
	// ErrServerClosed: the server closed the Engine.IO session (a close
	// packet, or a WebSocket closed under it). The failure is transient;
	// the next attempt asks for the namespace state back.
	ErrServerClosed = errors.New("server closed the session")
	// ErrDisconnected: the server disconnected the namespace (a DISCONNECT
	// packet). It ends the stream (class EndOfStream): socket.io clients
	// do not reconnect after it, and the server keeps no state to recover.
	ErrDisconnected = errors.New("server disconnected the namespace")
	// ErrUpgrade: polling could not be paused for the upgrade to
	// WebSocket, or the upgrade packet could not be sent.
	ErrUpgrade = errors.New("upgrade to websocket failed")
)

// EngineError is an Engine.IO server's refusal of a request: an HTTP 400
// (403 for code 4) whose body is {"code": N, "message": "..."}. Code 1,
// "Session ID unknown", means the session is gone (a restart, or a load
// balancer without sticky sessions): the failure is transient, and the next
// attempt makes a new handshake and asks for the namespace state back.
type EngineError struct {
	Code    int
	Message string
}

// Error implements error.
func (e *EngineError) Error() string {
	return fmt.Sprintf("engine.io code %d: %s", e.Code, e.Message)
}

// Engine.IO error codes (engine.io server.ts).
const (
	codeUnknownTransport = 0
	codeUnknownSID       = 1
	codeBadMethod        = 2
	codeBadRequest       = 3
	codeForbidden        = 4
	codeBadVersion       = 5
)

// class is what an engine refusal means for the subscription.
func (e *EngineError) class() transport.Class {
	switch e.Code {
	case codeUnknownSID, codeBadRequest:
		return transport.Transient // a new handshake starts afresh
	case codeUnknownTransport, codeBadVersion:
		return transport.Unsupported // not this transport, or not this protocol
	}
	return transport.Permanent // a bad method, or allowRequest refused
}

// ConnectError is the server's refusal of the namespace CONNECT (a
// CONNECT_ERROR packet): a middleware that refused the credentials, or an
// unknown namespace. It is permanent: retrying gets the same answer.
type ConnectError struct {
	// Namespace is the namespace refused.
	Namespace string
	// Message is the server's message ("Not authorized", "Invalid
	// namespace").
	Message string
	// Data is the "data" the middleware attached to its error, raw JSON;
	// nil when none.
	Data json.RawMessage
}

// Error implements error.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("namespace %s refused: %s", e.Namespace, e.Message)
}

// parseConnectError reads the payload of a CONNECT_ERROR packet.
func parseConnectError(nsp string, data []byte) *ConnectError {
	ce := &ConnectError{Namespace: nsp}
	var body struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Message == "" {
		ce.Message = strings.TrimSpace(string(data))
		if len(ce.Message) > 200 {
			ce.Message = ce.Message[:200] + "..."
		}
		return ce
	}
	ce.Message, ce.Data = body.Message, body.Data
	return ce
}

// fail is a *transport.Error of this transport.
func fail(op string, class transport.Class, err error) *transport.Error {
	return &transport.Error{Transport: Name, Op: op, Class: class, Err: err}
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 4 << 10

// answerError classifies an HTTP answer other than the one expected (200
// to a poll or POST, 101 to a WebSocket handshake). An Engine.IO refusal
// gets the class of its code; any other answer the class the transport
// package gives the status, for a WebSocket handshake (upgrade) or a
// stream request (polling).
func answerError(op string, resp *http.Response, upgrade bool) *transport.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &transport.Error{Transport: Name, Op: op, StatusCode: resp.StatusCode,
		RetryAfter: transport.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var ee struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(body, &ee) == nil && ee.Code != nil:
		eng := &EngineError{Code: *ee.Code, Message: ee.Message}
		e.Class, e.Err = eng.class(), eng
		return e
	case upgrade && resp.StatusCode == http.StatusBadRequest && isEngineMessage(body):
		// A refused WebSocket handshake: engine.io writes its message as
		// the body of a raw 400.
		eng := &EngineError{Code: engineCodeOf(string(body)), Message: string(body)}
		e.Class, e.Err = eng.class(), eng
		return e
	}
	e.Class = transport.ClassifyStatus(resp.StatusCode)
	if upgrade {
		e.Class = handshakeClass(resp.StatusCode)
	}
	msg := "server answered " + statusName(resp.StatusCode)
	if t := bytes.TrimSpace(body); len(t) > 0 && len(t) <= 200 && isText(t) {
		msg += ": " + string(t)
	}
	e.Err = errors.New(msg)
	return e
}

// handshakeClass is the class of an answer other than 101 to a WebSocket
// handshake, as the transport package's table says: refused credentials
// are permanent, a server in trouble transient, anything else means the
// server or a proxy does not upgrade here.
func handshakeClass(code int) transport.Class {
	switch {
	case code == http.StatusUnauthorized, code == http.StatusProxyAuthRequired:
		return transport.Permanent
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests,
		code >= 500 && code != http.StatusNotImplemented:
		return transport.Transient
	}
	return transport.Unsupported
}

// The messages engine.io writes in a refused upgrade, by code.
var engineMessages = map[string]int{
	"Transport unknown":            codeUnknownTransport,
	"Session ID unknown":           codeUnknownSID,
	"Bad handshake method":         codeBadMethod,
	"Bad request":                  codeBadRequest,
	"Forbidden":                    codeForbidden,
	"Unsupported protocol version": codeBadVersion,
}

func isEngineMessage(b []byte) bool {
	_, ok := engineMessages[string(b)]
	return ok
}

func engineCodeOf(msg string) int { return engineMessages[msg] }

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' {
			return false
		}
	}
	return true
}

// requestError classifies a request that got no answer: a certificate
// refused or a redirect loop is permanent, anything else (a network error,
// a timeout) transient.
func requestError(op string, err error) *transport.Error {
	class := transport.Transient
	if errors.Is(err, transport.ErrTooManyRedirects) || tlsRejected(err) {
		class = transport.Permanent
	}
	return fail(op, class, err)
}

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

// maxRedirects is where a chain of redirects counts as a loop.
const maxRedirects = 10

// checkRedirects reports a redirect loop as transport.ErrTooManyRedirects.
func checkRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d", transport.ErrTooManyRedirects, len(via))
	}
	return nil
}

// redacted is an error whose text hides the values of credentials sent in
// the URL (net/http and coder/websocket print the URL of a failed request).
type redacted struct {
	text string
	err  error
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

// redact returns e with every value of query hidden in its cause's text.
func redact(e *transport.Error, query url.Values) *transport.Error {
	if e == nil || e.Err == nil || len(query) == 0 {
		return e
	}
	text := e.Err.Error()
	clean := text
	for _, vs := range query {
		for _, v := range vs {
			if len(v) < 4 {
				continue
			}
			clean = strings.ReplaceAll(clean, v, "REDACTED")
			clean = strings.ReplaceAll(clean, url.QueryEscape(v), "REDACTED")
		}
	}
	if clean == text {
		return e
	}
	cp := *e
	cp.Err = &redacted{text: clean, err: e.Err}
	return &cp
}

// statusName is the standard name of an HTTP status, or its number.
func statusName(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return strconv.Itoa(code)
}

// malformedError is the cause of a packet that cannot be read; it matches
// transport.ErrMalformed.
type malformedError struct{ text string }

func (e *malformedError) Error() string        { return e.text }
func (e *malformedError) Is(target error) bool { return target == transport.ErrMalformed }

// malformed marks err as a malformed answer, unless it says so already or
// is about size.
func malformed(err error) error {
	var tl *transport.TooLargeError
	if errors.Is(err, transport.ErrMalformed) || errors.As(err, &tl) {
		return err
	}
	return fmt.Errorf("%w: %w", transport.ErrMalformed, err)
}

// plainCause strips the layers of "failed to ...: " that coder/websocket
// puts before a cause, keeping the chain.
func plainCause(err error) error {
	text := err.Error()
	for {
		rest, ok := strings.CutPrefix(text, "failed to ")
		if !ok {
			break
		}
		_, after, found := strings.Cut(rest, ": ")
		if !found {
			break
		}
		text = after
	}
	if text == err.Error() {
		return err
	}
	return &redacted{text: text, err: err}
}

// roundDuration rounds d for an error text.
func roundDuration(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// quoteShort quotes s for an error, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
