package nodeserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Feeds of a Streams server, as its controls name them.
const (
	FeedH2      = "h2"      // seed 000's HTTP/2 stream of the whole state, over TLS
	FeedH2C     = "h2c"     // a log over cleartext HTTP/2
	FeedChanges = "changes" // CouchDB's continuous changes feed
	FeedWatch   = "watch"   // a Kubernetes watch
	FeedState   = "state"   // seed 000's whole-state short polling
)

// Paths of a Streams server.
const (
	PathMsgs    = "/msgs"                           // FeedH2, on the TLS port
	PathLog     = "/log"                            // FeedH2C, on the cleartext HTTP/2 port
	PathChanges = "/db/_changes"                    // FeedChanges
	PathPods    = "/api/v1/namespaces/default/pods" // FeedWatch
	PathState   = "/state"                          // FeedState
)

// StreamsOptions configures a Streams server.
type StreamsOptions struct {
	// CertFile and KeyFile are the PEM certificate and key of the HTTP/2
	// server on TLS. Required: the test makes them (a self-signed
	// certificate for 127.0.0.1) and trusts the certificate itself.
	CertFile, KeyFile string

	// Port is the loopback port of the HTTP/1.1 server; 0 lets it pick.
	// The HTTP/2 servers always pick theirs.
	Port int

	// Stdout and Stderr receive the node process's output (the listening
	// line excepted). Nil discards it.
	Stdout, Stderr io.Writer
}

// Streams is a running node streams.js: servers that stream live data over
// one long response, each written the way its model writes it (see
// streams.js for the wire formats):
//
//   - FeedH2, on H2URL: Node's http2.createSecureServer as seed 000 uses it:
//     GET PathMsgs streams JSON.stringify({msg: [...]}) (the whole state,
//     items {user, text, time} without ids) on connect and after every
//     message, back to back; POST PathMsgs appends {user, text}. HTTP/2
//     only.
//   - FeedH2C, on H2CURL: Node's http2.createServer, cleartext HTTP/2 with
//     prior knowledge only: GET PathLog?since=N streams the messages after
//     id N and then each new one, as {"id","event","data"} objects back
//     to back.
//   - FeedChanges, on URL: express, CouchDB style: GET
//     PathChanges?feed=continuous&since=S&heartbeat=MS&timeout=MS, one
//     change {"seq","id","changes"} per line (seq opaque, "N-g1AAAAB..."),
//     an empty line every heartbeat, and {"last_seq","pending":0} to end
//     the response once timeout passes without a change.
//   - FeedWatch, on URL: express, Kubernetes style: GET
//     PathPods?watch=1&resourceVersion=RV, one {"type","object"} per line
//     after RV (after now without it); 410 Gone with a Status object when
//     RV is older than the history Compact kept.
//   - FeedState, on URL: express, seed 000's short polling: GET PathState
//     answers {"msg": [...]} with an ETag, and 304 to a request whose
//     If-None-Match is current.
//
// Its methods are safe for concurrent use; the caller closes it.
type Streams struct {
	addr    string
	h2, h2c int
	admin   *http.Client
	mu      sync.Mutex
	proc    *proc
	closed  bool
}

// StartStreams runs node streams.js on 127.0.0.1 and returns once its three
// servers accept requests, or when ctx ends. Like Start, it fails with an
// error naming the fix when node or its packages are missing.
func StartStreams(ctx context.Context, opts StreamsOptions) (*Streams, error) {
	node, dir, err := lookNode()
	if err != nil {
		return nil, err
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, fmt.Errorf("nodeserver: StreamsOptions needs CertFile and KeyFile")
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("nodeserver: bad port %d", opts.Port)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	args := []string{"--port", strconv.Itoa(opts.Port), "--cert", opts.CertFile, "--key", opts.KeyFile}
	p, err := spawn(node, dir, "streams.js", args, opts.Stdout, opts.Stderr)
	if err != nil {
		return nil, err
	}
	addr, err := p.listening(ctx)
	if err != nil {
		return nil, err
	}
	s := &Streams{
		addr:  addr,
		admin: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		proc:  p,
	}
	var ports struct{ H2, H2C int }
	if err := s.call(ctx, http.MethodGet, "/admin/ports", nil, &ports); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.h2, s.h2c = ports.H2, ports.H2C
	return s, nil
}

// URL returns the HTTP/1.1 server's "http://127.0.0.1:PORT".
func (s *Streams) URL() string { return "http://" + s.addr }

// H2URL returns the HTTP/2 TLS server's "https://127.0.0.1:PORT".
func (s *Streams) H2URL() string { return "https://127.0.0.1:" + strconv.Itoa(s.h2) }

// H2CURL returns the cleartext HTTP/2 server's "http://127.0.0.1:PORT".
func (s *Streams) H2CURL() string { return "http://127.0.0.1:" + strconv.Itoa(s.h2c) }

// Publish adds one message to feed, with text as its text (FeedH2,
// FeedState, FeedH2C), document id suffix (FeedChanges) or pod name
// (FeedWatch), and returns its id: the message's number for FeedH2 and
// FeedState (whose messages carry none), its id for FeedH2C, its seq for
// FeedChanges, its resourceVersion for FeedWatch.
func (s *Streams) Publish(ctx context.Context, feed, text string) (string, error) {
	var out struct{ ID string }
	err := s.call(ctx, http.MethodPost, "/admin/publish", map[string]string{"feed": feed, "text": text}, &out)
	return out.ID, err
}

// Drop cuts every connection serving feed (for FeedH2 and FeedH2C, every
// HTTP/2 session of that server) and returns how many there were.
func (s *Streams) Drop(ctx context.Context, feed string) (int, error) {
	var out struct{ Dropped int }
	err := s.call(ctx, http.MethodPost, "/admin/drop", map[string]string{"feed": feed}, &out)
	return out.Dropped, err
}

// Compact makes FeedWatch forget its history up to its current
// resourceVersion, which it returns: a watch from an older one gets 410.
func (s *Streams) Compact(ctx context.Context) (string, error) {
	var out struct{ RV int }
	err := s.call(ctx, http.MethodPost, "/admin/compact", nil, &out)
	return strconv.Itoa(out.RV), err
}

// StreamRequest is one request a feed has seen.
type StreamRequest struct {
	Query any    // the query: express's parse for the express feeds, the raw string for the HTTP/2 ones
	Proto string // "HTTP/1.1" or "HTTP/2"
}

// StreamStats are a Streams server's counters since it started.
type StreamStats struct {
	Requests map[string][]StreamRequest // per feed, oldest first
	State    struct {
		OK          int // FeedState answers with a body
		NotModified int // FeedState answers 304
	}
	H2Sessions int // HTTP/2 sessions the TLS server has accepted
}

// Stats returns the server's counters.
func (s *Streams) Stats(ctx context.Context) (StreamStats, error) {
	var out StreamStats
	err := s.call(ctx, http.MethodGet, "/admin/stats", nil, &out)
	return out, err
}

// Close stops the process, asking it with SIGTERM first, and returns once it
// and its goroutine have finished. Calling it again does nothing.
func (s *Streams) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.admin.CloseIdleConnections()
	p := s.proc
	s.proc = nil
	return p.stop(stopGrace)
}

func (s *Streams) call(ctx context.Context, method, path string, in, out any) error {
	return callJSON(ctx, s.admin, s.URL(), method, path, in, out)
}
