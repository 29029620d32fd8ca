package client

import (
	"fmt"
	"log/slog"
	"net/http"
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

	// Header is sent with every request and handshake.
	Header http.Header

	// Logger receives a record for every event. Default: no logging.
	Logger *slog.Logger
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
	if c.Header != nil {
		c.Header = c.Header.Clone()
	}
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
