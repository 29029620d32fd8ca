// Command subscribe follows a live data source with anysub and prints each
// message as it arrives.
//
// Offer the transports the server has; the order of the ladder is always
// Socket.IO, WebSocket, SSE, HTTP stream, long polling, polling, keeping
// those given:
//
//	subscribe -ws ws://host/ws -sse http://host/sse -poll http://host/poll -json
//
// With no transport flag it runs a self-contained demo: an embedded server, a
// publisher, and a schedule of faults that force a downgrade, an upgrade and
// dropped connections, ending with a summary of what was published and
// delivered.
//
// Servers with a protocol of their own are met with flags: -id-field,
// -event-field and -data-field say where a message's parts are in its JSON;
// -on-connect, -app-ping and -app-pong-field speak a WebSocket server's
// subscribe and ping frames; -send sends stdin's lines; -auth-cmd fetches a
// bearer token before every attempt; -cacert trusts a private certificate
// authority.
//
// Exit status: 0 when -n messages have arrived, on interrupt, or when the
// server ends the stream; 1 when the subscription fails permanently (or the
// demo loses or repeats a message, or -max-attempts attempts failed in a
// row); 2 for bad flags.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options holds the parsed command line.
type options struct {
	ws, sse, longpoll, poll string
	pollInterval            time.Duration
	longpollHold            time.Duration
	since                   string
	heartbeat               time.Duration
	backoffKind             string
	backoffMin, backoffMax  time.Duration
	upgradeInterval         time.Duration
	header                  http.Header
	n                       int
	json                    bool

	// Where a JSON message's parts are; fields is set when any of the
	// three flags was given (nil: each transport's default decoding).
	idField, eventField, dataField string
	fields                         *transport.Fields

	onConnect    []string // WebSocket frames sent after every handshake
	appPing      string   // WebSocket application ping; {{n}} counts
	appPongField string   // the field that marks a ping's reply
	cursorParam  string

	send        bool   // send stdin's lines
	sendURL     string // where HTTP transports POST them
	authCmd     string // prints a bearer token for every attempt
	maxAttempts int
	cacert      string         // PEM file of trusted roots
	roots       *x509.CertPool // its certificates

	// Transports with flags of their own, each in its own file.
	sio  socketioFlags // socketio_flags.go: the first rung
	strm streamFlags   // stream_flags.go: between SSE and long polling
}

// parseFlags parses args; the error is already reported on stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{header: http.Header{}}
	fs := flag.NewFlagSet("subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// A mistake gets one line and a hint (the flag package has already
	// printed what was wrong); -h gets the whole text.
	fs.Usage = func() {
		if !helpAsked(args) {
			fmt.Fprintln(stderr, "subscribe: run 'subscribe -h' for the flags")
		}
	}
	fs.StringVar(&o.ws, "ws", "", "WebSocket URL (ws:// or wss://)")
	fs.StringVar(&o.sse, "sse", "", "Server-Sent Events URL")
	fs.StringVar(&o.longpoll, "longpoll", "", "long-polling URL")
	fs.StringVar(&o.poll, "poll", "", "polling URL")
	fs.DurationVar(&o.pollInterval, "poll-interval", 2*time.Second, "pause between polls")
	fs.DurationVar(&o.longpollHold, "longpoll-hold", transport.DefaultLongPollHold, "how long the -longpoll server holds a request with nothing new; a request fails after this plus the heartbeat timeout, which is also how long a dead server takes to notice")
	fs.StringVar(&o.since, "since", "", "resume after this message id")
	fs.DurationVar(&o.heartbeat, "heartbeat", client.DefaultHeartbeatInterval, "heartbeat interval (the timeout is two thirds of it)")
	fs.StringVar(&o.backoffKind, "backoff", "exponential", "reconnect backoff: exponential or linear")
	fs.DurationVar(&o.backoffMin, "backoff-min", backoff.DefaultInitial, "first reconnect delay")
	fs.DurationVar(&o.backoffMax, "backoff-max", backoff.DefaultMax, "largest reconnect delay")
	fs.DurationVar(&o.upgradeInterval, "upgrade-interval", client.DefaultUpgradeInterval, "how often to probe a better transport")
	fs.Func("header", "request header 'Key: Value' (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("want 'Key: Value', got %q", v)
		}
		o.header.Add(strings.TrimSpace(k), strings.TrimSpace(val))
		return nil
	})
	fs.IntVar(&o.n, "n", 0, "exit after this many messages (0: no limit)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per message on stdout and per state change on stderr")
	fs.StringVar(&o.idField, "id-field", "id", "dot-separated path of the message id in a JSON message")
	fs.StringVar(&o.eventField, "event-field", "event", "dot-separated path of the event name in a JSON message")
	fs.StringVar(&o.dataField, "data-field", "data", "dot-separated path of the data in a JSON message (default the whole message when only -id-field is given)")
	fs.Func("on-connect", "WebSocket text frame sent after every (re)connect, {{cursor}} replaced by the cursor (repeatable, in order)", func(v string) error {
		o.onConnect = append(o.onConnect, v)
		return nil
	})
	fs.StringVar(&o.appPing, "app-ping", "", "WebSocket text frame sent every heartbeat interval as a ping, {{n}} replaced by a counter from 0")
	fs.StringVar(&o.appPongField, "app-pong-field", "", "path of a field that marks an inbound WebSocket frame without message id as a ping reply (never printed)")
	fs.StringVar(&o.cursorParam, "cursor-param", transport.DefaultCursorParam, "query parameter carrying the cursor on -ws, -stream, -longpoll and -poll")
	fs.BoolVar(&o.send, "send", false, "send each line of stdin to the server (WebSocket frame, or POST to -send-url)")
	fs.StringVar(&o.sendURL, "send-url", "", "URL the HTTP transports POST sent lines to (default the transport's own URL)")
	fs.StringVar(&o.authCmd, "auth-cmd", "", "shell command run before every attempt; its output is the bearer token")
	fs.IntVar(&o.maxAttempts, "max-attempts", 0, "give up after this many failed attempts in a row (0: never)")
	fs.StringVar(&o.cacert, "cacert", "", "PEM file of the certificates to trust for https and wss (instead of the system's)")
	o.sio.register(fs)
	o.strm.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)
		}
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if o.backoffKind != "exponential" && o.backoffKind != "linear" {
		bad = append(bad, fmt.Sprintf("-backoff must be exponential or linear, not %q", o.backoffKind))
	}
	if o.pollInterval <= 0 || o.longpollHold <= 0 || o.heartbeat <= 0 || o.backoffMin <= 0 || o.backoffMax < o.backoffMin || o.upgradeInterval <= 0 {
		bad = append(bad, "durations must be positive, and -backoff-max at least -backoff-min")
	}
	if o.n < 0 {
		bad = append(bad, "-n must not be negative")
	}
	if o.maxAttempts < 0 {
		bad = append(bad, "-max-attempts must not be negative")
	}
	if given["id-field"] || given["event-field"] || given["data-field"] {
		f := transport.Fields{ID: o.idField, Event: o.eventField, Data: o.dataField}
		if given["id-field"] && !given["data-field"] {
			f.Data = "." // the whole message is its data
		}
		if err := f.Validate(); err != nil {
			bad = append(bad, fmt.Sprintf("bad field path: %v", err))
		}
		o.fields = &f
	}
	if o.sendURL != "" {
		if u, err := url.Parse(o.sendURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad = append(bad, fmt.Sprintf("-send-url %q is not an http or https URL", o.sendURL))
		}
	}
	if o.appPongField != "" && !validPath(o.appPongField) {
		bad = append(bad, fmt.Sprintf("-app-pong-field %q has an empty key", o.appPongField))
	}
	if o.cacert != "" {
		roots, err := loadRoots(o.cacert)
		if err != nil {
			bad = append(bad, err.Error())
		}
		o.roots = roots
	}
	bad = append(bad, o.sio.validate()...)
	bad = append(bad, o.strm.validate()...)
	if len(bad) > 0 {
		err := errors.New(strings.Join(bad, "; "))
		fmt.Fprintln(stderr, "subscribe:", err)
		fs.Usage()
		return nil, err
	}
	return o, nil
}

// loadRoots reads the PEM certificates of file into a pool of their own.
func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-cacert: no PEM certificate in %s", file)
	}
	return pool, nil
}

// config builds the subscription config from the flags.
func (o *options) config() client.Config {
	// The ladder: -socketio, -ws, -sse, -stream, -longpoll, -poll.
	trs := o.sio.rungs(o)
	if o.ws != "" {
		ws := &transport.WebSocket{URL: o.ws, CursorParam: o.cursorParam}
		o.wireWebSocket(ws)
		trs = append(trs, ws)
	}
	if o.sse != "" {
		trs = append(trs, &transport.SSE{URL: o.sse, SendURL: o.sendURL})
	}
	trs = append(trs, o.strm.rungs(o)...)
	if o.longpoll != "" {
		trs = append(trs, &transport.LongPoll{URL: o.longpoll, Hold: o.longpollHold, CursorParam: o.cursorParam, SendURL: o.sendURL})
	}
	if o.poll != "" {
		trs = append(trs, &transport.Poll{URL: o.poll, Interval: o.pollInterval, CursorParam: o.cursorParam, SendURL: o.sendURL})
	}
	var policy backoff.Policy = backoff.Exponential{Initial: o.backoffMin, Max: o.backoffMax}
	if o.backoffKind == "linear" {
		policy = backoff.Linear{Initial: o.backoffMin, Step: o.backoffMin, Max: o.backoffMax}
	}
	cfg := client.Config{
		Transports:        trs,
		Backoff:           policy,
		Cursor:            o.since,
		HeartbeatInterval: o.heartbeat,
		HeartbeatTimeout:  max(o.heartbeat*2/3, time.Millisecond),
		UpgradeInterval:   o.upgradeInterval,
		Header:            o.header,
		MaxAttempts:       o.maxAttempts,
	}
	if o.fields != nil {
		cfg.Decoder = o.fields.Decoder()
	}
	o.sio.adjust(o, &cfg)
	o.strm.adjust(o, &cfg)
	if o.roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = o.roots
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	return cfg
}

// run is the whole command, reading the process's stdin for -send; it
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, nil, stdout, stderr)
}

// runWithInput is run with stdin as the input of -send; nil means the
// process's own stdin.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	out := newPrinter(stdout, stderr, o.json)
	if o.ws == "" && o.sse == "" && o.longpoll == "" && o.poll == "" && !o.sio.given() && !o.strm.given() {
		return runDemo(ctx, o, out)
	}
	cfg := o.config()
	if cfg.HTTPClient != nil {
		// Its keep-alive connections are the command's own: none outlives it.
		defer cfg.HTTPClient.CloseIdleConnections()
	}
	if o.authCmd != "" {
		cfg.Credentials = authCommand(o.authCmd, out)
	}
	sub, err := client.Subscribe(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "subscribe:", err)
		return 2
	}
	out.reportFailureOnce()
	events := out.followEvents(sub)
	var sender *lineSender
	if o.send {
		sender = startSender(ctx, sub, stdin, out)
	}
	code, failure := receive(ctx, o, sub, out)
	// The sender goes first, so that no send waits on a subscription being
	// closed; the events are drained next, so that a failure is the last line.
	sender.stop()
	sub.Close()
	<-events
	if failure != nil {
		out.failure(failure)
	}
	return code
}

// receive prints messages until -n have arrived or the subscription ends.
// It returns the exit status and, when the subscription failed, why.
func receive(ctx context.Context, o *options, sub *client.Subscription, out *printer) (int, error) {
	for count := 0; o.n == 0 || count < o.n; count++ {
		m, err := sub.Next(ctx)
		switch {
		case err == nil:
			out.message(m)
		case errors.Is(err, io.EOF):
			out.note("the server ended the stream")
			return 0, nil
		case ctx.Err() != nil:
			return 0, nil // interrupted
		default:
			return 1, err
		}
	}
	return 0, nil
}

// usage prints the whole help text.
func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `Usage: subscribe [flags]

Follows a live data source and prints each message as it arrives. Offer the
transports the server has; the ladder is always -socketio, -ws, -sse,
-stream, -longpoll, -poll, best first, keeping those given. -ws accepts
http and https URLs too (they mean ws and wss).

With no transport flag at all it runs the demo: an embedded server, a
publisher and a schedule of faults, ending with a summary.

Exit status: 0 after -n messages, on interrupt, or when the server ends the
stream; 1 when the subscription fails for good; 2 for bad flags. (go run
reports every non-zero status as 1: build the binary for the exact one.)

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// helpAsked reports whether args ask for help before any non-flag argument.
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}
