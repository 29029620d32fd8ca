package nodeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Paths dialects.js serves.
const (
	PathChat         = "/chat"
	PathBoard        = "/board"
	PathFeedWS       = "/feed/ws"
	PathFeedLongPoll = "/feed/long"
)

// Defaults for zero fields of DialectOptions.
const (
	DefaultBoardPingTimeout = 1500 * time.Millisecond
	DefaultFeedHold         = 20 * time.Second
)

// DialectOptions configures a Dialects server. The zero value is a server on
// a free port with the defaults of dialects.js.
type DialectOptions struct {
	// Port is the loopback port to listen on; 0 lets the server pick one.
	Port int

	// BoardPingTimeout is how long a client of PathBoard may go without an
	// application ping before the server closes it with code 4000. Default
	// DefaultBoardPingTimeout.
	BoardPingTimeout time.Duration

	// FeedHold is how long PathFeedLongPoll holds a request that has nothing
	// new before answering []. Default DefaultFeedHold; negative answers at
	// once.
	FeedHold time.Duration

	// Stdout and Stderr receive the node process's output (the listening
	// line excepted). Nil discards it.
	Stdout, Stderr io.Writer
}

// Dialects is a running node dialects.js: three servers on one port whose
// wire protocols are not anysub's defaults, each written the way Node.js
// tutorials write such servers.
//
// PathChat is a chat over WebSocket. A client's first frame must be
// {"type":"login","user":NAME} (optionally with "since":ID, a decimal string
// or number, to replay the log after that id); any other first frame closes
// the connection with code 4001, and nothing is sent before the login.
// After it, every {"type":"say","text":T,"cid":C} the client sends is logged
// with the next integer id and broadcast to every logged-in client as
// {"id":N,"user":NAME,"text":T,"cid":C}.
//
// PathBoard is a board over WebSocket. {"type":"subscribe","board":B,
// "reqid":K,"since":S} (S a number or null) is answered {"reqid":K,
// "result":true}, then the cards of B after S, and then its new cards, as
// {"type":"card","seq":N,"board":B,"text":T} with seq counting from 1 on
// each board. {"type":"ping","reqid":K} is answered {"reqid":K,"result":true};
// a client that sends no ping for BoardPingTimeout is closed with code 4000.
// A request the server cannot honour is answered with "result":false and
// an "error".
//
// The feed serves items {"u":N,"kind":K,"payload":P}, u counting up from
// 1001, on PathFeedWS (one item per text frame) and PathFeedLongPoll (a
// JSON array of at most 500 items). Both resume after ?after=<u>; without
// it they start with the next item published.
//
// Its methods are safe for concurrent use; the caller closes it.
type Dialects struct {
	addr  string
	admin *http.Client

	mu     sync.Mutex
	proc   *proc // nil once closed
	closed bool
}

// StartDialects runs node dialects.js on 127.0.0.1 and returns once it
// accepts requests, or when ctx ends. Like Start, it fails with an error
// naming the fix when node or its packages are missing.
func StartDialects(ctx context.Context, opts DialectOptions) (*Dialects, error) {
	node, dir, err := lookNode()
	if err != nil {
		return nil, err
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("nodeserver: bad port %d", opts.Port)
	}
	if opts.BoardPingTimeout <= 0 {
		opts.BoardPingTimeout = DefaultBoardPingTimeout
	}
	if opts.FeedHold == 0 {
		opts.FeedHold = DefaultFeedHold
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "0"
		}
		return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
	}
	args := []string{
		"--port", strconv.Itoa(opts.Port),
		"--board-ping-timeout", ms(opts.BoardPingTimeout),
		"--feed-hold", ms(opts.FeedHold),
	}
	p, err := spawn(node, dir, "dialects.js", args, opts.Stdout, opts.Stderr)
	if err != nil {
		return nil, err
	}
	addr, err := p.listening(ctx)
	if err != nil {
		return nil, err
	}
	return &Dialects{
		addr:  addr,
		admin: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		proc:  p,
	}, nil
}

// Addr returns "127.0.0.1:PORT".
func (d *Dialects) Addr() string { return d.addr }

// URL returns "http://127.0.0.1:PORT".
func (d *Dialects) URL() string { return "http://" + d.addr }

// ChatURL returns the chat's WebSocket endpoint.
func (d *Dialects) ChatURL() string { return "ws://" + d.addr + PathChat }

// BoardURL returns the board's WebSocket endpoint.
func (d *Dialects) BoardURL() string { return "ws://" + d.addr + PathBoard }

// FeedWebSocketURL returns the feed's WebSocket endpoint.
func (d *Dialects) FeedWebSocketURL() string { return "ws://" + d.addr + PathFeedWS }

// FeedLongPollURL returns the feed's long-polling endpoint.
func (d *Dialects) FeedLongPollURL() string { return d.URL() + PathFeedLongPoll }

// Close stops the process, asking it with SIGTERM first, and returns once it
// and its goroutine have finished. Calling it again does nothing.
func (d *Dialects) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.admin.CloseIdleConnections()
	p := d.proc
	d.proc = nil
	return p.stop(stopGrace)
}

func (d *Dialects) call(ctx context.Context, method, path string, in, out any) error {
	return callJSON(ctx, d.admin, d.URL(), method, path, in, out)
}

// ---- chat ----

// ChatLogin is one login frame the chat has received.
type ChatLogin struct {
	User string
	// Since is the since value of the frame as sent (a JSON string or
	// number), nil when the frame had none.
	Since json.RawMessage
	// Refused is set when the login was turned away by HoldChat.
	Refused bool
}

// DropChat cuts every chat connection without a close handshake and returns
// how many there were.
func (d *Dialects) DropChat(ctx context.Context) (int, error) {
	var out struct{ Dropped int }
	err := d.call(ctx, http.MethodPost, "/admin/chat/drop", nil, &out)
	return out.Dropped, err
}

// HoldChat makes the chat turn away the logins of user, closing their
// connections with code 1013 (try again later), until it is called again
// with on false. Connections already logged in stay.
func (d *Dialects) HoldChat(ctx context.Context, user string, on bool) error {
	return d.call(ctx, http.MethodPost, "/admin/chat/hold", struct {
		User string `json:"user"`
		On   bool   `json:"on"`
	}{user, on}, nil)
}

// ChatLogins returns every login frame the chat has received, oldest first.
func (d *Dialects) ChatLogins(ctx context.Context) ([]ChatLogin, error) {
	var out struct{ Logins []ChatLogin }
	err := d.call(ctx, http.MethodGet, "/admin/chat/logins", nil, &out)
	return out.Logins, err
}

// ---- board ----

// BoardStats are the board's counters since the process started.
type BoardStats struct {
	Connections int // WebSocket connections accepted
	Open        int // connections open now
	Pings       int // application pings answered
	Timeouts    int // connections closed for want of a ping
	Subscribes  []BoardSubscribe
}

// BoardSubscribe is one subscribe request the board accepted.
type BoardSubscribe struct {
	Board string
	Since *int64 // nil when the request's since was null or absent
}

// PublishCard adds a card to board and returns its seq: 1, 2, ... on each
// board.
func (d *Dialects) PublishCard(ctx context.Context, board, text string) (int64, error) {
	var out struct{ Seq int64 }
	err := d.call(ctx, http.MethodPost, "/admin/board/publish", struct {
		Board string `json:"board"`
		Text  string `json:"text"`
	}{board, text}, &out)
	return out.Seq, err
}

// DropBoard cuts every board connection without a close handshake and
// returns how many there were.
func (d *Dialects) DropBoard(ctx context.Context) (int, error) {
	var out struct{ Dropped int }
	err := d.call(ctx, http.MethodPost, "/admin/board/drop", nil, &out)
	return out.Dropped, err
}

// BoardStats returns the board's counters.
func (d *Dialects) BoardStats(ctx context.Context) (BoardStats, error) {
	var out BoardStats
	err := d.call(ctx, http.MethodGet, "/admin/board/stats", nil, &out)
	return out, err
}

// ---- feed ----

// FeedRequest is one request (or WebSocket upgrade) the feed has seen.
type FeedRequest struct {
	Path  string
	Query map[string]any // the query parameters, as express parses them
}

// PublishFeed appends an item of kind with payload (valid JSON; nil means
// null) and returns its u: 1001, 1002, ...
func (d *Dialects) PublishFeed(ctx context.Context, kind string, payload json.RawMessage) (int64, error) {
	if payload == nil {
		payload = json.RawMessage("null")
	}
	var out struct{ U int64 }
	err := d.call(ctx, http.MethodPost, "/admin/feed/publish", struct {
		Kind    string          `json:"kind"`
		Payload json.RawMessage `json:"payload"`
	}{kind, payload}, &out)
	return out.U, err
}

// DropFeed destroys every connection that has served the feed: WebSockets,
// held long polls and idle keep-alive connections alike.
func (d *Dialects) DropFeed(ctx context.Context) (int, error) {
	var out struct{ Dropped int }
	err := d.call(ctx, http.MethodPost, "/admin/feed/drop", nil, &out)
	return out.Dropped, err
}

// RefuseFeedWebSocket makes PathFeedWS answer upgrades with status instead
// of 101; 0 accepts them again. Connections already open stay open.
func (d *Dialects) RefuseFeedWebSocket(ctx context.Context, status int) error {
	return d.call(ctx, http.MethodPost, "/admin/feed/refuse-websocket", map[string]int{"status": status}, nil)
}

// FeedRequests returns every feed request and upgrade seen, oldest first.
func (d *Dialects) FeedRequests(ctx context.Context) ([]FeedRequest, error) {
	var out struct{ Requests []FeedRequest }
	err := d.call(ctx, http.MethodGet, "/admin/feed/requests", nil, &out)
	return out.Requests, err
}
