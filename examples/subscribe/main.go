// Command subscribe follows a live data source with anysub and prints each
// message as it arrives.
//
// Offer the transports the server has; the order of the ladder is always
// WebSocket, SSE, long polling, polling, keeping those given:
//
//	subscribe -ws ws://host/ws -sse http://host/sse -poll http://host/poll -json
//
// With no transport flag it runs a self-contained demo: an embedded server, a
// publisher, and a schedule of faults that force a downgrade, an upgrade and
// dropped connections, ending with a summary of what was published and
// delivered.
//
// Exit status: 0 when -n messages have arrived, on interrupt, or when the
// server ends the stream; 1 when the subscription fails permanently (or the
// demo loses or repeats a message); 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
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
	since                   string
	heartbeat               time.Duration
	backoffKind             string
	backoffMin, backoffMax  time.Duration
	upgradeInterval         time.Duration
	header                  http.Header
	n                       int
	json                    bool
}

// parseFlags parses args; the error is already reported on stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{header: http.Header{}}
	fs := flag.NewFlagSet("subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ws, "ws", "", "WebSocket URL (ws:// or wss://)")
	fs.StringVar(&o.sse, "sse", "", "Server-Sent Events URL")
	fs.StringVar(&o.longpoll, "longpoll", "", "long-polling URL")
	fs.StringVar(&o.poll, "poll", "", "polling URL")
	fs.DurationVar(&o.pollInterval, "poll-interval", 2*time.Second, "pause between polls")
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
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if o.backoffKind != "exponential" && o.backoffKind != "linear" {
		bad = append(bad, fmt.Sprintf("-backoff must be exponential or linear, not %q", o.backoffKind))
	}
	if o.pollInterval <= 0 || o.heartbeat <= 0 || o.backoffMin <= 0 || o.backoffMax < o.backoffMin || o.upgradeInterval <= 0 {
		bad = append(bad, "durations must be positive, and -backoff-max at least -backoff-min")
	}
	if o.n < 0 {
		bad = append(bad, "-n must not be negative")
	}
	if len(bad) > 0 {
		err := errors.New(strings.Join(bad, "; "))
		fmt.Fprintln(stderr, "subscribe:", err)
		fs.Usage()
		return nil, err
	}
	return o, nil
}

// config builds the subscription config from the flags.
func (o *options) config() client.Config {
	var trs []transport.Transport
	if o.ws != "" {
		trs = append(trs, &transport.WebSocket{URL: o.ws})
	}
	if o.sse != "" {
		trs = append(trs, &transport.SSE{URL: o.sse})
	}
	if o.longpoll != "" {
		trs = append(trs, &transport.LongPoll{URL: o.longpoll})
	}
	if o.poll != "" {
		trs = append(trs, &transport.Poll{URL: o.poll, Interval: o.pollInterval})
	}
	var policy backoff.Policy = backoff.Exponential{Initial: o.backoffMin, Max: o.backoffMax}
	if o.backoffKind == "linear" {
		policy = backoff.Linear{Initial: o.backoffMin, Step: o.backoffMin, Max: o.backoffMax}
	}
	return client.Config{
		Transports:        trs,
		Backoff:           policy,
		Cursor:            o.since,
		HeartbeatInterval: o.heartbeat,
		HeartbeatTimeout:  max(o.heartbeat*2/3, time.Millisecond),
		UpgradeInterval:   o.upgradeInterval,
		Header:            o.header,
	}
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	out := newPrinter(stdout, stderr, o.json)
	if o.ws == "" && o.sse == "" && o.longpoll == "" && o.poll == "" {
		return runDemo(ctx, o, out)
	}
	sub, err := client.Subscribe(ctx, o.config())
	if err != nil {
		fmt.Fprintln(stderr, "subscribe:", err)
		return 2
	}
	defer sub.Close()
	events := out.followEvents(sub)
	defer func() { sub.Close(); <-events }()

	for count := 0; o.n == 0 || count < o.n; count++ {
		m, err := sub.Next(ctx)
		switch {
		case err == nil:
			out.message(m)
		case errors.Is(err, io.EOF):
			out.note("the server ended the stream")
			return 0
		case ctx.Err() != nil:
			return 0 // interrupted
		default:
			sub.Close()
			<-events
			out.failure(err)
			return 1
		}
	}
	return 0
}
