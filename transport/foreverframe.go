package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// A "forever frame" (or forever iframe) is the oldest way of streaming to a
// browser: a hidden iframe loads a response that never ends, and the server
// writes one <script> element per message, which calls a function of the
// page with the message as its argument:
//
//	<html><body><script>var cb = function (m) { parent.s.onMessage(m); };</script>
//	<script>parent.cb({"id":1,"data":"hello"})</script>
//	<script>parent.cb({"id":2,"data":"world"});</script>
//
// socket.io 0.9's htmlfile transport wrote each message as a JSON string
// instead (<script>_("{\"id\":1}");</script>), with padding after the
// prologue to defeat the browser's buffering. An HTTPStream reads such a
// body with Split set to SplitScripts, which cuts it into one piece per
// script, and Decoder set to a ForeverFrame's Decoder, which finds the
// call in each piece and decodes its argument.

const scriptEnd = "</script>"

// SplitScripts is a bufio.SplitFunc that cuts a forever-frame body after
// each </script> tag (in any letter case): each token is one script
// element, with whatever came before it since the previous one (the
// prologue, padding, other markup). It keeps no state, and looks again from
// the start of data at each call, so a script split into many small reads
// costs time in the square of its length; scripts are short.
func SplitScripts(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("</"))
		if j < 0 {
			break
		}
		j += i
		end := j + len(scriptEnd)
		if end > len(data) {
			break // the tag may go on in the next read
		}
		if bytes.EqualFold(data[j:end], []byte(scriptEnd)) {
			return end, data[:end], nil
		}
		i = j + 2
	}
	if atEOF && len(bytes.TrimSpace(data)) == 0 {
		return len(data), nil, nil
	}
	return 0, nil, nil
}

// ForeverFrame describes the script elements of a forever-frame body, as
// its Decoder reads them.
type ForeverFrame struct {
	// Callback is the function the scripts call, as written in them:
	// "parent.cb", "_". Empty accepts any name made of letters, digits,
	// '_', '$' and '.'.
	Callback string

	// Argument decodes the argument of each call. Nil reads it as a
	// WebSocket frame is (a message envelope, a list of them, or else one
	// message whose Data is the whole argument).
	Argument Decoder
}

// Decoder returns the Decoder of one piece of a forever-frame body, as
// SplitScripts cuts it: the content of its last <script> element must be a
// call of Callback with one argument, a JSON value, optionally followed by
// a semicolon. When that argument is a JSON string, the string's text is
// decoded instead (the htmlfile style). A piece whose script is no such
// call (the prologue, say) holds no message; one whose argument the
// Argument decoder fails on is an error, for which an HTTPStream delivers the piece
// whole.
func (f ForeverFrame) Decoder() Decoder {
	return func(piece []byte) ([]Message, error) {
		arg, ok, err := f.argument(piece)
		if err != nil || !ok {
			return nil, err
		}
		if arg[0] == '"' {
			var text string
			if err := json.Unmarshal(arg, &text); err != nil {
				return nil, fmt.Errorf("%w: forever frame: argument: %v", ErrMalformed, err)
			}
			arg = []byte(text)
		}
		if f.Argument != nil {
			return f.Argument(arg)
		}
		return decodeFrame(arg), nil
	}
}

// argument returns the argument of the call in the last script element of
// piece; ok is false when that script is no call of the callback.
func (f ForeverFrame) argument(piece []byte) (arg []byte, ok bool, err error) {
	body, found := scriptBody(piece)
	if !found {
		return nil, false, nil
	}
	body = bytes.TrimSpace(body)
	name := callee(body)
	if name == "" || f.Callback != "" && name != f.Callback {
		return nil, false, nil
	}
	rest := bytes.TrimSpace(body[len(name):])
	if len(rest) == 0 || rest[0] != '(' {
		return nil, false, nil
	}
	rest = bytes.TrimSpace(bytes.TrimSuffix(rest, []byte(";")))
	if rest[len(rest)-1] != ')' {
		return nil, false, fmt.Errorf("%w: forever frame: a call of %s without its closing parenthesis", ErrMalformed, name)
	}
	arg = bytes.TrimSpace(rest[1 : len(rest)-1])
	if len(arg) == 0 {
		return nil, false, nil // a call without argument carries nothing
	}
	return arg, true, nil
}

// scriptBody returns the content of the last <script ...> element of
// piece, which ends with its closing tag.
func scriptBody(piece []byte) ([]byte, bool) {
	trimmed := bytes.TrimSpace(piece)
	if len(trimmed) < len(scriptEnd) || !bytes.EqualFold(trimmed[len(trimmed)-len(scriptEnd):], []byte(scriptEnd)) {
		return nil, false
	}
	inner := trimmed[:len(trimmed)-len(scriptEnd)]
	lower := bytes.ToLower(inner)
	open := bytes.LastIndex(lower, []byte("<script"))
	if open < 0 {
		return nil, false
	}
	gt := bytes.IndexByte(inner[open:], '>')
	if gt < 0 {
		return nil, false
	}
	return inner[open+gt+1:], true
}

// callee returns the name at the start of body: letters, digits, '_', '$'
// and '.'.
func callee(body []byte) string {
	n := 0
	for n < len(body) {
		c := body[n]
		if c == '_' || c == '$' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			n++
			continue
		}
		break
	}
	return string(body[:n])
}
