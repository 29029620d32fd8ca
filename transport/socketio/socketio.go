package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/anysub/anysub/transport"
)

// Name is the name of the transport, as reported by Transport.Name and
// carried in client messages, events and stats.
const Name = "socketio"

// Defaults for zero fields of Transport.
const (
	DefaultPath             = "/socket.io/"
	DefaultSendEvent        = "message"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultConnectTimeout   = 20 * time.Second
	DefaultUpgradeTimeout   = 10 * time.Second
	DefaultUpgradeRetry     = 60 * time.Second
	DefaultMaxAttachments   = 10
	DefaultMaxResponseSize  = 16 << 20
	DefaultMaxReplaySize    = 64 << 20
)

// closeGrace bounds the goodbye packets Close sends.
const closeGrace = time.Second

// Transport follows one Socket.IO namespace of a socket.io 4.x server
// (Engine.IO v4, Socket.IO v5), spoken natively over net/http and
// coder/websocket.
//
// Each event the server emits on the namespace becomes a message: Event is
// the event name, Data the JSON array of its other arguments, and ID the
// event's connection state recovery offset when the server enables
// recovery (the offset is then not part of Data), empty otherwise. Binary
// attachments appear in Data as {"base64": "..."} objects (see Binary).
// An event that asks for an acknowledgement is acknowledged at once with
// no arguments. Acknowledgements and events of other namespaces are not
// delivered.
//
// Open makes the Engine.IO handshake over the first of Transports and
// sends the namespace CONNECT, with the auth object (Auth merged with the
// request's) and, to resume, the pid of the subscription's last session and
// the cursor as offset; it returns once the server has answered. Events the
// server replays before its answer are delivered only if the answer
// carries the same pid (the session was recovered); otherwise, and after
// any reconnection when the server has no recovery, the stream first
// yields a gap marker (transport.Message{Gap: true}). A polling session
// upgrades itself to WebSocket in place when the server offers it, and
// tries again every UpgradeRetry when a probe fails (a proxy that refuses
// WebSocket), staying on polling meanwhile; each carrier in use is reported
// through Request.Session's Carrier.
//
// The server pings; the stream answers, and fails with ErrStalled when no
// ping has come for pingInterval plus pingTimeout, or plus
// Request.Heartbeat.Timeout when that is shorter. (Heartbeat.Interval has
// no say: the server sets the pace.) Time during which the subscriber is
// not taking messages does not count.
//
// Failures are *transport.Error values: a CONNECT_ERROR (a middleware that
// refused the credentials, an unknown namespace) is Permanent, wrapping a
// *ConnectError with the server's message; a namespace DISCONNECT from the
// server ends the stream (EndOfStream, wrapping ErrDisconnected); an
// Engine.IO refusal wraps an *EngineError ("Session ID unknown" is
// Transient: the next attempt makes a new handshake and recovers); HTTP
// answers and network errors are classified as for the other transports.
//
// Streams implement transport.Sender: Send emits SendEvent with the data as
// its one argument (the data itself when it is JSON, else a JSON string),
// over whichever carrier is in use. Close sends the Engine.IO close packet,
// so that the server keeps the namespace state for recovery; only when the
// subscription has ended for good (Request.Session.Done) does it first
// disconnect the namespace, which makes the server drop that state. It
// does so too after a poll broken by the network, which the server may not
// have seen (it would hold the session until its ping timeout, and a
// reconnection made before that could not recover); when that goodbye gets
// no answer either, the next Open of the same Request.Session sends it
// before its handshake.
//
// A Transport is a configuration: it holds no connection, may be shared by
// any number of subscriptions, and must not change after the first Open.
type Transport struct {
	// URL is the server and namespace: http, https, ws or wss, whose path
	// is the namespace ("http://host/chat" is namespace /chat; no path is
	// /). Query parameters are sent with every request. Required.
	URL string

	// Path is the Engine.IO endpoint on the server. Default "/socket.io/".
	Path string

	// Transports are the carriers to use, as socket.io-client's option:
	// {"polling", "websocket"} (the default: a polling handshake upgraded
	// to WebSocket in place), {"websocket"} (WebSocket only), or
	// {"polling"} (never upgraded).
	Transports []string

	// Auth is the CONNECT auth object, a JSON object; nil sends none.
	// Request.Auth (from the client's Credentials) is merged into it, its
	// members winning.
	Auth json.RawMessage

	// SendEvent is the event Send emits. Default "message".
	SendEvent string

	// HandshakeTimeout bounds the Engine.IO handshake, every POST and the
	// dial of a WebSocket. Default 10 seconds; a Timeout on the request's
	// HTTPClient lowers it. It never bounds the GET that waits for data.
	HandshakeTimeout time.Duration

	// ConnectTimeout bounds the wait for the namespace CONNECT answer.
	// Default 20 seconds.
	ConnectTimeout time.Duration

	// UpgradeTimeout bounds a probe of WebSocket during an upgrade.
	// Default 10 seconds.
	UpgradeTimeout time.Duration

	// UpgradeRetry is the pause after a failed upgrade before the next
	// try, while the stream carries on polling. Default 60 seconds;
	// negative tries once per stream.
	UpgradeRetry time.Duration

	// MaxAttachments bounds the binary attachments of one event. Default
	// 10, socket.io's own limit.
	MaxAttachments int

	// MaxResponseSize bounds one polling response, which may join many
	// packets. Default 16 MiB, and never less than the request's
	// MaxMessageSize. (Request.MaxMessageSize bounds each packet, and the
	// data of each message.)
	MaxResponseSize int64

	// MaxReplaySize bounds the events held back while the server's
	// CONNECT answer is awaited; past it they are dropped and a gap is
	// reported. Default 64 MiB.
	MaxReplaySize int64
}

var (
	_ transport.Transport = (*Transport)(nil)
	_ transport.Validator = (*Transport)(nil)
)

// Name returns "socketio".
func (t *Transport) Name() string { return Name }

// target is where a Transport connects.
type target struct {
	base *url.URL // the engine endpoint, over http or https, with the URL's query
	nsp  string
}

// Validate checks URL, Path, Transports and Auth.
func (t *Transport) Validate() error {
	if _, err := t.target(nil); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	if _, _, err := t.carriers(); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	if _, err := mergeAuth(t.Auth, nil); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	return nil
}

// target parses URL and Path, adding query (credentials in the URL).
func (t *Transport) target(query url.Values) (target, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return target{}, err
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return target{}, fmt.Errorf("URL %q: scheme must be http, https, ws or wss", t.URL)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("URL %q has no host", t.URL)
	}
	nsp := u.Path
	if nsp == "" {
		nsp = "/"
	}
	if strings.ContainsAny(nsp, ",") {
		return target{}, fmt.Errorf("namespace %q: a comma cannot be in a namespace", nsp)
	}
	path := t.Path
	if path == "" {
		path = DefaultPath
	}
	path = "/" + strings.Trim(path, "/") + "/"
	if path == "//" {
		path = "/"
	}
	q := u.Query()
	for k, vs := range query {
		q[k] = append([]string(nil), vs...)
	}
	base := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: path, RawQuery: q.Encode()}
	return target{base: base, nsp: nsp}, nil
}

// carriers returns the carrier to open and whether to upgrade.
func (t *Transport) carriers() (open string, upgrade bool, err error) {
	switch strings.Join(t.Transports, ",") {
	case "", "polling,websocket":
		return Polling, true, nil
	case "polling":
		return Polling, false, nil
	case "websocket":
		return WebSocket, false, nil
	}
	return "", false, fmt.Errorf("transports %q: want polling,websocket, polling or websocket", t.Transports)
}

// Open connects to the namespace and returns the stream once the server
// has answered the CONNECT. The stream's life is bounded by ctx.
func (t *Transport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	tg, err := t.target(req.Query)
	if err != nil {
		return nil, fail("open", transport.Permanent, err)
	}
	first, upgrade, err := t.carriers()
	if err != nil {
		return nil, fail("open", transport.Permanent, err)
	}
	auth, err := mergeAuth(t.Auth, req.Auth)
	if err != nil {
		return nil, fail("open", transport.Permanent, err)
	}
	st := stateOf(req.Session, sessionKey{nsp: tg.nsp, url: tg.base.Scheme + "://" + tg.base.Host + tg.base.Path})
	cfg := t.engineConfig(tg, req, st, upgrade)
	if sid := st.takeStale(); sid != "" && !sayGoodbye(ctx, cfg, sid) {
		st.leftOpen(sid)
	}
	e, err := openEngine(ctx, cfg, first)
	if err != nil {
		return nil, err
	}
	s := newStream(t, e, tg.nsp, req)
	s.state = st
	if err := s.connect(ctx, st, req.Cursor, auth); err != nil {
		grace := closeGrace
		if ctx.Err() != nil {
			grace = 0 // the caller has gone: no goodbye
		}
		// A CONNECT the server took but whose answer was lost leaves a
		// socket on the server: it must end before a later CONNECT
		// recovers the same session (see recovery.go).
		st.leftOpen(e.close(nil, grace))
		return nil, err
	}
	s.watch(ctx)
	e.startUpgrade()
	req.Session.ReportCarrier("", e.carrier())
	return s, nil
}

// engineConfig fills the engine's settings with defaults.
func (t *Transport) engineConfig(tg target, req transport.Request, st *sessionState, upgrade bool) engineConfig {
	hc := req.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	client := *hc
	timeout := t.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	if client.Timeout > 0 {
		timeout = min(timeout, client.Timeout)
	}
	client.Timeout = 0
	if client.Jar == nil {
		client.Jar = st.jar
	}
	if client.CheckRedirect == nil {
		client.CheckRedirect = checkRedirects
	}
	limit := req.MaxMessageSize
	if limit <= 0 {
		limit = transport.DefaultMaxMessageSize
	}
	maxBody := t.MaxResponseSize
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseSize
	}
	header := req.Header.Clone()
	if header == nil {
		header = make(http.Header)
	}
	cfg := engineConfig{
		base:           tg.base,
		query:          req.Query,
		header:         header,
		client:         &client,
		requestTimeout: timeout,
		limit:          limit,
		maxBody:        max(maxBody, limit+1),
		upgrade:        upgrade,
		upgradeTimeout: or(t.UpgradeTimeout, DefaultUpgradeTimeout),
		upgradeRetry:   t.UpgradeRetry,
		carrier:        req.Session.ReportCarrier,
	}
	if cfg.upgradeRetry == 0 {
		cfg.upgradeRetry = DefaultUpgradeRetry
	}
	if req.Heartbeat.Enabled() {
		cfg.hbTimeout = req.Heartbeat.Timeout
	}
	return cfg
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
