package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/anysub/anysub/client"
)

// printer writes messages to stdout and state changes to stderr, one line
// each, as text or as JSON objects. It is safe for concurrent use.
type printer struct {
	mu      sync.Mutex
	stdout  io.Writer
	stderr  io.Writer
	json    bool
	secrets []string // never written to stderr (the tokens of -auth-cmd)
	// finalLine: the command prints the failure that ends the subscription
	// itself, with failure, so the failed event is not printed too.
	finalLine bool
}

func newPrinter(stdout, stderr io.Writer, asJSON bool) *printer {
	return &printer{stdout: stdout, stderr: stderr, json: asJSON}
}

// jsonMessage is the -json shape of a message.
type jsonMessage struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Data      any    `json:"data"`
	Transport string `json:"transport"`
	Key       string `json:"key,omitempty"` // the dedupe key of an item without id (-key)
}

// jsonEvent is the -json shape of a state change.
type jsonEvent struct {
	State     string `json:"state"`
	Transport string `json:"transport,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Error     string `json:"error,omitempty"`
	RetryInMS *int64 `json:"retry_in_ms,omitempty"`
	ID        string `json:"id,omitempty"` // reset, skipped: the message id; gap: the cursor
	Time      string `json:"time"`
}

// message prints one message.
func (p *printer) message(m client.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.json {
		fmt.Fprintf(p.stdout, "%-9s id=%s event=%s %s\n", m.Transport, m.ID, m.Event, m.Data)
		return
	}
	p.writeJSON(p.stdout, jsonMessage{ID: m.ID, Event: m.Event, Data: jsonData(m.Data), Transport: m.Transport, Key: m.Key})
}

// jsonData is how data appears in a -json line: as JSON when it is JSON,
// as a string otherwise. Every line must be valid UTF-8 whatever the server
// sent: encoding/json replaces each invalid byte of a string with U+FFFD, and
// JSON data holding invalid bytes (necessarily inside its strings, or it
// would not be valid) gets the same replacement, keeping everything else as
// sent.
func jsonData(b []byte) any {
	switch {
	case !json.Valid(b):
		return string(b)
	case utf8.Valid(b):
		return json.RawMessage(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\ufffd"...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return json.RawMessage(out)
}

// reportFailureOnce makes failure the only line that reports the failure
// ending the subscription: the failed event is no longer printed.
func (p *printer) reportFailureOnce() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finalLine = true
}

// event prints one state change.
func (p *printer) event(e client.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Kind == client.EventFailed && p.finalLine {
		return
	}
	if !p.json {
		fmt.Fprintf(p.stderr, "%s anysub: %s\n", e.Time.Format("15:04:05.000"), p.scrub(e.String()))
		return
	}
	je := jsonEvent{State: e.Kind.String(), Transport: e.Transport, From: e.From, To: e.To, ID: e.ID, Time: e.Time.Format(time.RFC3339Nano)}
	if e.Err != nil {
		je.Error = p.scrub(e.Err.Error())
	}
	if e.Kind == client.EventDisconnected {
		ms := e.RetryIn.Milliseconds()
		je.RetryInMS = &ms
	}
	p.writeJSON(p.stderr, je)
}

// sendState prints the outcome of sending one line of -send, in the shape
// of a state change: state is "sent" or "send-failed" (with err).
func (p *printer) sendState(state, transport string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.json {
		line := state + " " + transport
		if err != nil {
			// The error names its transport first; once is enough.
			text := err.Error()
			if rest, ok := strings.CutPrefix(text, transport+": "); ok && transport != "" {
				text = rest
			}
			line += ": " + text
		}
		fmt.Fprintf(p.stderr, "%s anysub: %s\n", now.Format("15:04:05.000"), p.scrub(line))
		return
	}
	je := jsonEvent{State: state, Transport: transport, Time: now.Format(time.RFC3339Nano)}
	if err != nil {
		je.Error = p.scrub(err.Error())
	}
	p.writeJSON(p.stderr, je)
}

// addSecret makes s a value that stderr never shows.
func (p *printer) addSecret(s string) {
	if len(s) < 4 {
		return // too short to be a credential; scrubbing it would garble text
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, have := range p.secrets {
		if have == s {
			return
		}
	}
	p.secrets = append(p.secrets, s)
	if n := len(p.secrets) - maxPrinterSecrets; n > 0 {
		p.secrets = append(p.secrets[:0], p.secrets[n:]...)
	}
}

// maxPrinterSecrets bounds how many tokens the printer remembers: the last
// ones, so that a token rotated every few seconds does not grow the list
// for ever.
const maxPrinterSecrets = 64

// scrub returns s with every secret replaced. It runs with mu held.
func (p *printer) scrub(s string) string {
	for _, v := range p.secrets {
		s = strings.ReplaceAll(s, v, "REDACTED")
	}
	return s
}

// note prints a line of the command's own on stderr.
func (p *printer) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := p.scrub(fmt.Sprintf(format, args...))
	if p.json {
		p.writeJSON(p.stderr, map[string]string{"note": msg})
		return
	}
	fmt.Fprintln(p.stderr, "subscribe:", msg)
}

// failure reports the error that ended the subscription: in -json mode as a
// state line of its own, "failed", with the error and the time.
func (p *printer) failure(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := p.scrub(err.Error())
	if p.json {
		p.writeJSON(p.stderr, jsonEvent{State: "failed", Error: msg, Time: time.Now().Format(time.RFC3339Nano)})
		return
	}
	fmt.Fprintln(p.stderr, "subscribe: subscription failed:", msg)
}

func (p *printer) writeJSON(w io.Writer, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a terminal or a script reads this, not a browser
	if err := enc.Encode(v); err != nil {
		b.Reset()
		fmt.Fprintf(&b, "{\"error\":%q}\n", err.Error())
	}
	w.Write(b.Bytes())
}

// followEvents prints sub's events until the channel closes, in a goroutine
// whose end is signalled by the returned channel.
func (p *printer) followEvents(sub *client.Subscription) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range sub.Events() {
			p.event(e)
		}
	}()
	return done
}
