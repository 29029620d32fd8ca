package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/transport"
)

// Defaults used for zero fields of Config.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
	DefaultDedupeWindow      = 1024
	DefaultDowngradeAfter    = 3
	DefaultUpgradeInterval   = 60 * time.Second
	DefaultBuffer            = 16
	DefaultEventBuffer       = 16
)

// Config describes a subscription. Only Transports is required; every other
// zero field means the documented default. Subscribe copies the Config and
// never modifies the caller's value.
type Config struct {
	// Transports is the ladder, best first. Subscribe fails if it is empty or
	// holds a nil entry.
	Transports []transport.Transport

	// Backoff makes the delay sequence between attempts. Default:
	// backoff.Exponential{} (1s doubling to 30s, ±50% jitter, never giving
	// up). A server's Retry-After or SSE retry field is a floor on the next
	// delay. The sequence restarts after a connection has delivered a message.
	Backoff backoff.Policy

	// HeartbeatInterval and HeartbeatTimeout drive liveness detection; see
	// transport.Heartbeat for what each transport does with them. Defaults 15s
	// and 10s. A negative HeartbeatInterval turns liveness detection off.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration

	// Cursor is the id to resume after on the first connection. Empty means
	// wherever the server starts a new subscriber.
	Cursor string

	// DedupeWindow is how many of the most recent message ids are remembered
	// to drop duplicates. Default 1024; negative turns dedupe off.
	DedupeWindow int

	// DowngradeAfter is how many consecutive failed attempts of a transport,
	// without a message delivered, move the subscription to the next one.
	// An "unsupported" answer moves it at once. Default 3.
	DowngradeAfter int

	// UpgradeInterval is how often a subscription below the best transport
	// probes the better ones. Default 60s; negative turns probing off.
	UpgradeInterval time.Duration

	// MaxMessageSize bounds one message in bytes on every transport. A larger
	// message drops that connection (reported as an event) and the
	// subscription carries on. Default 1 MiB.
	MaxMessageSize int64

	// Buffer is the capacity of the queue between the network and Next. When
	// it is full the subscription stops reading from the network. Default 16.
	Buffer int

	// EventBuffer is the capacity of the Events channel. When it is full the
	// oldest event is dropped (and counted in Stats.EventsDropped), so a slow
	// reader of events never holds the subscription back. Default 16.
	EventBuffer int

	// HTTPClient makes every request and handshake. Default http.DefaultClient.
	// Its Timeout, if any, bounds handshakes and single poll requests only,
	// never a streaming response.
	HTTPClient *http.Client

	// Header is sent with every request and handshake, to the host of the
	// transport's URL only: a redirect to another host (name and port)
	// gets neither Header nor the headers of Credentials, unless
	// ForwardHeadersCrossHost is set.
	Header http.Header

	// ForwardHeadersCrossHost lets Header and the headers of Credentials
	// follow a redirect to another host, subject to net/http's own rules
	// (which keep Authorization and cookies from another domain). Default
	// false: they are removed from a request redirected away from the
	// host it was first made to.
	ForwardHeadersCrossHost bool

	// Logger receives a record for every event. Default: no logging.
	Logger *slog.Logger

	// Decoder finds the id, event and data of messages on every transport:
	// WebSocket frames, SSE events that carry no id field, poll and
	// long-poll bodies (see transport.Decoder, and transport.Fields for one
	// built from field paths). A Decoder set on a transport itself takes
	// precedence there. Default: each transport's own format.
	Decoder transport.Decoder

	// Credentials, when set, is called before every connection attempt and
	// every upgrade probe, and what it returns is added to that attempt's
	// request: a token that changes over time is fetched afresh each time.
	// failure is nil, except when the server has just refused the
	// credentials (401, or 403 with RefreshOn403): it is then that refusal,
	// so the hook can refresh the token, and the attempt is repeated once
	// with the new credentials before the refusal counts (a 401 as
	// permanent, a 403 as the transport refused: see transport.Class). An
	// error from the hook fails the attempt (transiently, unless it is a
	// permanent *transport.Error). Calls never overlap. The values it
	// returns never appear in events, logs or errors of the subscription.
	Credentials func(ctx context.Context, failure error) (Credentials, error)

	// RefreshOn403 makes a 403 answer refresh the credentials like a 401.
	// Default false: a 403 counts at once, as the transport refused (the
	// next one is tried) or, for Send, as a permanent failure.
	RefreshOn403 bool

	// MaxAttempts ends the subscription with a *GaveUpError after this many
	// consecutive failed attempts (an attempt fails when it cannot connect,
	// or its connection ends before delivering a message). Default 0:
	// never give up.
	MaxAttempts int

	// SecretHeaders names headers of Header whose values must never appear
	// in events, logs or errors. Authorization, Proxy-Authorization, Cookie
	// and X-Api-Key are always treated so.
	SecretHeaders []string
}

// Credentials is what Config.Credentials returns for one attempt.
type Credentials struct {
	// Header is added to the request (Authorization, cookies, API keys).
	Header http.Header
	// Query is added to the request URL, replacing parameters of the same
	// name.
	Query url.Values
	// Auth is an in-band authentication payload, a JSON object, for the
	// transports that carry one (socketio.Transport sends it in its
	// namespace CONNECT, merged into the transport's own Auth); the others
	// ignore it. Nil sends none.
	Auth []byte
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if len(c.Transports) == 0 {
		return c, fmt.Errorf("%w: no transports", ErrInvalidConfig)
	}
	c.Transports = append([]transport.Transport(nil), c.Transports...)
	for i, t := range c.Transports {
		if t == nil {
			return c, fmt.Errorf("%w: transport %d is nil", ErrInvalidConfig, i)
		}
		if v, ok := t.(transport.Validator); ok {
			if err := v.Validate(); err != nil {
				return c, fmt.Errorf("%w: transport %d: %v", ErrInvalidConfig, i, err)
			}
		}
	}
	if c.Backoff == nil {
		c.Backoff = backoff.Exponential{}
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	if c.DowngradeAfter <= 0 {
		c.DowngradeAfter = DefaultDowngradeAfter
	}
	if c.UpgradeInterval == 0 {
		c.UpgradeInterval = DefaultUpgradeInterval
	}
	if c.MaxMessageSize < 0 {
		return c, fmt.Errorf("%w: negative MaxMessageSize", ErrInvalidConfig)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	if c.Buffer < 0 || c.EventBuffer < 0 {
		return c, fmt.Errorf("%w: negative buffer size", ErrInvalidConfig)
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.MaxAttempts < 0 {
		return c, fmt.Errorf("%w: negative MaxAttempts", ErrInvalidConfig)
	}
	if err := checkHeader(c.Header); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if c.Header != nil {
		c.Header = c.Header.Clone()
	}
	c.SecretHeaders = append([]string(nil), c.SecretHeaders...)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// heartbeat returns the liveness settings passed to transports.
func (c *Config) heartbeat() transport.Heartbeat {
	if c.HeartbeatInterval < 0 {
		return transport.Heartbeat{}
	}
	return transport.Heartbeat{Interval: c.HeartbeatInterval, Timeout: c.HeartbeatTimeout}
}

// proofWindow is how long a probe stream must stay healthy, without
// delivering, to count as live: two full heartbeat budgets, so that a stream
// that opens but never delivers has failed its liveness check by then.
func (c *Config) proofWindow() time.Duration {
	hb := c.heartbeat()
	if !hb.Enabled() {
		return 2 * (DefaultHeartbeatInterval + DefaultHeartbeatTimeout)
	}
	return 2 * (hb.Interval + hb.Timeout)
}
