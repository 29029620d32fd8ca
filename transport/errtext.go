package transport

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// plainError is a cause with a text of its own, written for people: plain,
// without the wrapping of the libraries below. It unwraps to err, which
// keeps the typed chain for errors.Is and errors.As. status is the status
// or close code the text names, zero when it names none.
type plainError struct {
	text   string
	status int
	err    error
}

func (p *plainError) Error() string { return p.text }
func (p *plainError) Unwrap() error { return p.err }

// namesStatus reports whether the text of err already names code.
func namesStatus(err error, code int) bool {
	var p *plainError
	return errors.As(err, &p) && p.status == code
}

// failure names a failure of class c that has no cause of its own.
func (c Class) failure() string {
	switch c {
	case Transient:
		return "transient failure"
	case Unsupported:
		return "transport not supported by the server"
	case Permanent:
		return "permanent failure"
	case EndOfStream:
		return "end of stream"
	}
	return c.String()
}

// statusText is "503 Service Unavailable", or the bare code for one that
// has no standard name.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// roundDuration rounds d for a text: to the millisecond under 10s, to the
// tenth of a second above, to the microsecond under a millisecond.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// libraryCause describes err, an error from net/http or coder/websocket,
// without their layers of "failed to ...": the *url.Error of a request
// (which names the method, the URL and the network error), else the
// *net.OpError of a connection, else err's own text with the wrapping
// prefixes of coder/websocket removed. The result unwraps to err.
func libraryCause(err error) error {
	var (
		ue *url.Error
		oe *net.OpError
	)
	switch {
	case errors.As(err, &ue):
		return &plainError{text: ue.Error(), err: err}
	case errors.As(err, &oe):
		return &plainError{text: oe.Error(), err: err}
	}
	text := err.Error()
	for {
		rest, ok := strings.CutPrefix(text, "failed to ")
		if !ok {
			break
		}
		// "failed to get reader: failed to read frame header: unexpected rsv bits"
		_, after, found := strings.Cut(rest, ": ")
		if !found {
			break
		}
		text = after
	}
	if text == err.Error() {
		return err
	}
	return &plainError{text: text, err: err}
}

// errStreamClosed is the cause of a failure on a stream that its own side
// closed.
var errStreamClosed error = &plainError{text: "stream closed", err: net.ErrClosed}
