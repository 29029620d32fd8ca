package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

const (
	// wsCloseGrace is how long Close lets the close handshake run before it
	// cuts the connection: a stalled server never answers it.
	wsCloseGrace = time.Second
)

// WebSocket receives messages over a WebSocket connection
// (github.com/coder/websocket). Every text or binary frame holds one message
// object or an array of them; any other frame is delivered whole as Data.
//
// A stream ends with a *Error of Op "read": EndOfStream (matching io.EOF)
// when the server closes with status 1000; Transient otherwise, wrapping
// ErrMessageTooLarge for a frame over Request.MaxMessageSize, ErrStalled for
// a heartbeat verdict, and carrying the close code in StatusCode when the
// server sent one, 1006 when the connection ended without a close frame.
// If the ctx given to Next ends while it waits for a frame, the connection
// is closed (coder/websocket cannot abandon a read and keep the connection)
// and Next returns a Transient *Error wrapping ctx.Err().
//
// With Request.Heartbeat enabled, the stream pings after Heartbeat.Interval
// without inbound frames and declares the connection dead when no pong comes
// within Heartbeat.Timeout. coder/websocket only sees a pong while a read is
// under way, so a ping counts against the server only when Next was waiting
// for a frame the whole time: a subscriber that is slow to call Next
// (back-pressure) never gets a healthy connection condemned.
//
// A WebSocket is a configuration: it holds no connection and may be shared by
// any number of concurrent Open calls. Its fields must not change after the
// first Open.
type WebSocket struct {
	// URL is the endpoint. The schemes ws, wss, http and https are accepted
	// (http means ws, https means wss). Query parameters are kept. Required.
	URL string

	// CursorParam is the query parameter that carries Request.Cursor on the
	// handshake. Empty means DefaultCursorParam ("since"). No parameter is
	// added when the cursor is empty.
	CursorParam string

	// Subprotocols are offered to the server in Sec-WebSocket-Protocol. Nil
	// (the default) offers none.
	Subprotocols []string

	// HandshakeTimeout bounds the opening handshake (and the sending of
	// Hello's frames), never the stream. Zero (or a negative value) means
	// the heartbeat budget, Request.Heartbeat's Interval+Timeout (a server
	// answers a handshake at once, so one that has not answered by then is
	// as dead as a silent connection), or 10 seconds when the heartbeat is
	// off. A positive value replaces it. A Timeout on Request.HTTPClient
	// lowers it.
	HandshakeTimeout time.Duration

	// Decoder finds the messages in a frame. Nil means Request.Decoder, and
	// when that is nil too, the JSON envelope (see DecodeJSON). A frame the
	// decoder rejects, or that yields no message, is delivered whole as
	// Data without id.
	Decoder Decoder

	// Hello, when set, returns the frames to send, in order, as text frames
	// right after every handshake, before any frame is read: a login or a
	// subscribe request. cursor is Request.Cursor (empty when there is
	// none), so that a subscribe frame can say where to resume. An error
	// from Hello fails Open permanently (the frames can never be built); a
	// frame that cannot be written fails it transiently.
	Hello func(cursor string) ([][]byte, error)

	// Control, when set, judges every inbound frame before it is decoded:
	// a reply or an acknowledgement is never delivered (see FrameKind). An
	// error ends the stream: a *Error keeps its Class (a server's "do not
	// reconnect" can be Permanent, a "try later" Transient), any other error
	// is a refusal and Permanent.
	Control func(frame []byte) (FrameKind, error)

	// ConfirmTimeout, when positive, makes Open wait after sending Hello's
	// frames until Control calls a frame FrameAck or FrameAckMessages; if
	// none arrives within it, Open fails with a Transient *Error. Messages
	// that arrive before the confirmation are kept and delivered. Zero
	// means Open does not wait for a confirmation.
	ConfirmTimeout time.Duration

	// AppPing, when set, replaces protocol pings with application pings for
	// servers that want a ping of their own (browsers cannot send protocol
	// pings, so many servers built for them do this): AppPing(n), n counting
	// from 0 on each connection, is sent as a text frame every
	// Request.Heartbeat.Interval whether or not frames arrive, since such
	// servers drop a client that has not pinged for a while. The connection
	// is dead when no frame at all (the reply, or anything else) arrives
	// within Heartbeat.Timeout of a ping while a read was waiting. Replies
	// are recognised by Control (FrameReply) so that they are not
	// delivered. Needs Request.Heartbeat to be enabled.
	AppPing func(n int) []byte

	// CloseClass, when set, classifies the close code of a connection the
	// server closed: a code that means "do not reconnect" can be Permanent,
	// for example. Returning zero keeps the default: 1000 is EndOfStream,
	// anything else Transient.
	CloseClass func(code int) Class
}

// Name returns NameWebSocket.
func (w *WebSocket) Name() string { return NameWebSocket }

// Open performs the handshake and returns the stream. A failed handshake is
// a *Error with Op "open", classified as the table on Class says: a bad URL,
// a rejected TLS certificate, a redirect loop, 401 and 407 are Permanent; a
// network error, a timeout, 408, 429 and 5xx (but 501) are Transient
// (RetryAfter from the Retry-After header); any other answer than 101
// Switching Protocols (200, 400, 403, 404, 410, 426, ...) and a 101 that
// breaks the protocol are Unsupported, since they come from a server or
// proxy that does not offer WebSocket here.
//
// The stream's life is bounded by ctx: when it ends, so does the stream.
func (w *WebSocket) Open(ctx context.Context, req Request) (Stream, error) {
	target, err := w.dialURL(req.Cursor, req.Query)
	if err != nil {
		return nil, &Error{Transport: NameWebSocket, Op: "open", Class: Permanent, Err: err}
	}
	act := newWSActivity(req.Heartbeat.Enabled())
	tap := new(wsTap)
	client, handshake := wsClient(requestClient(req), tap, connectTimeout(max(w.HandshakeTimeout, 0), req.Heartbeat))
	opts := &websocket.DialOptions{
		HTTPClient:   client,
		HTTPHeader:   req.Header,
		Subprotocols: w.Subprotocols,
		OnPingReceived: func(context.Context, []byte) bool {
			act.inbound()
			return true
		},
		OnPongReceived: func(context.Context, []byte) { act.inbound() },
	}
	dctx, cancel := context.WithTimeout(ctx, handshake)
	conn, resp, err := websocket.Dial(dctx, target, opts)
	if err != nil {
		cancel()
		e := wsOpenError(resp, err)
		if resp == nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// The handshake's own bound ran out, not the caller's.
			e.Err = &plainError{text: fmt.Sprintf("no answer to the handshake within %v", roundDuration(handshake)), err: err}
		}
		return nil, redactQuery(e, req.Query)
	}
	limit := req.maxMessageSize()
	conn.SetReadLimit(limit)
	if err := w.sendHello(dctx, conn, req.Cursor); err != nil {
		cancel()
		_ = conn.CloseNow()
		return nil, err
	}
	cancel()
	s := newWSStream(ctx, w, conn, tap, act, limit, req)
	if w.ConfirmTimeout > 0 {
		if err := s.awaitAck(w.ConfirmTimeout); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	s.startHeartbeat()
	return s, nil
}

// dialURL is URL with the cursor parameter set when there is a cursor, and
// the parameters of query.
func (w *WebSocket) dialURL(cursor string, query url.Values) (string, error) {
	u, err := url.Parse(w.URL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return "", fmt.Errorf("URL %q: scheme must be ws, wss, http or https", w.URL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q has no host", w.URL)
	}
	if cursor != "" || len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			q[k] = append([]string(nil), vs...)
		}
		if cursor != "" {
			param := w.CursorParam
			if param == "" {
				param = DefaultCursorParam
			}
			q.Set(param, cursor)
		}
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// wsClient returns a copy of c for one handshake, and the handshake's time
// budget: handshake, lowered to c's Timeout. The copy has no Timeout (it is
// folded into the budget, so that it cannot cut the stream), reports a
// redirect loop as ErrTooManyRedirects unless c has its own CheckRedirect,
// and lets tap see the upgraded connection.
func wsClient(c *http.Client, tap *wsTap, handshake time.Duration) (*http.Client, time.Duration) {
	if c.Timeout > 0 {
		handshake = min(handshake, c.Timeout)
	}
	cp := *c
	cp.Timeout = 0
	if cp.CheckRedirect == nil {
		cp.CheckRedirect = checkRedirects
	}
	tap.next = cp.Transport
	if tap.next == nil {
		tap.next = http.DefaultTransport
	}
	cp.Transport = tap
	return &cp, handshake
}

// wsOpenError classifies a failed handshake; resp is the server's answer,
// nil when none arrived.
func wsOpenError(resp *http.Response, err error) *Error {
	switch {
	case resp == nil || errors.Is(err, ErrTooManyRedirects):
		// No answer, or one that only led on to a redirect loop.
		return requestError(NameWebSocket, "open", handshakeExchange, wsCause(err))
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// An upgrade that broke the protocol (a bad Sec-WebSocket-Accept, ...).
		cause := &plainError{text: "invalid answer to the handshake: " + wsCause(err).Error(), err: wsCause(err)}
		return answerError(NameWebSocket, "open", handshakeExchange, resp, cause)
	}
	return answerError(NameWebSocket, "open", handshakeExchange, resp, statusCause(resp, wsCause(err)))
}

// wsCause is the cause of a failure that coder/websocket reported as err:
// its text without the library's layers (see libraryCause), and never
// matching io.EOF, which callers take for a clean end: a connection that
// ended mid-stream unwraps to io.ErrUnexpectedEOF instead.
func wsCause(err error) error {
	c := libraryCause(err)
	if errors.Is(err, io.EOF) {
		return &plainError{text: c.Error(), err: io.ErrUnexpectedEOF}
	}
	return c
}

// wsCloseCause is the cause of a stream the server closed with a close
// frame of status code and err's reason.
func wsCloseCause(code websocket.StatusCode, err error) error {
	text := "connection closed by the server"
	if code == websocket.StatusNormalClosure {
		text = "server ended the stream"
	}
	text += " (status " + strconv.Itoa(int(code))
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Reason != "" {
		text += ", reason " + strconv.Quote(ce.Reason)
	}
	return &plainError{text: text + ")", status: int(code), err: err}
}

// wsDropCause is the cause of a connection that ended without a close
// frame, which RFC 6455 reports as status 1006: a bare end of the bytes is
// the server (or something on the way) closing it; anything else is told
// as it came.
func wsDropCause(err error) error {
	const code = int(websocket.StatusAbnormalClosure)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &plainError{text: "connection closed by the server (status 1006)", status: code, err: io.ErrUnexpectedEOF}
	}
	return &plainError{text: "connection lost (status 1006): " + libraryCause(err).Error(), status: code, err: err}
}

// wsTap is the RoundTripper of a handshake. It keeps the body of the 101
// answer, which is the raw connection, so that Close can cut it while
// coder/websocket waits for the peer's half of the close handshake: its own
// CloseNow cannot interrupt a Close already under way.
type wsTap struct {
	next http.RoundTripper

	mu   sync.Mutex
	conn io.Closer

	notify atomic.Pointer[func()] // see ReadNotifier; called before each read of the upgraded connection
}

// wsNotifyBody is the upgraded connection as coder/websocket gets it: its
// Reads are made only when coder/websocket's buffered reader has run dry,
// so each may block, and the tap's notify function runs before each.
type wsNotifyBody struct {
	io.ReadWriteCloser
	tap *wsTap
}

func (b *wsNotifyBody) Read(p []byte) (int, error) {
	if f := b.tap.notify.Load(); f != nil {
		(*f)()
	}
	return b.ReadWriteCloser.Read(p)
}

// RoundTrip implements http.RoundTripper.
func (t *wsTap) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(t.poolable(r))
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
			resp.Body = &wsNotifyBody{ReadWriteCloser: rwc, tap: t}
		}
		t.mu.Lock()
		t.conn = resp.Body
		t.mu.Unlock()
	}
	return resp, err
}

// poolable returns r, or, for a handshake over plain http through a
// keep-alive *http.Transport, a copy whose Connection header is keyed in
// lower case. net/http files a request whose Connection header asks for a
// WebSocket upgrade under a pool key of its own (HTTP/1 only, so that TLS
// never negotiates HTTP/2 for it): the connection of a refused handshake
// goes back to the idle pool under that key, where the plain GET of the next
// transport (SSE, long poll) never looks, and a second TCP connection is
// dialled. Field names are case-insensitive, so the server sees the same
// header; net/http no longer recognises the upgrade, which over plain http
// changes nothing but the pool key. Over https the key is what keeps HTTP/2
// away from the handshake, so it stays.
func (t *wsTap) poolable(r *http.Request) *http.Request {
	ht, ok := t.next.(*http.Transport)
	if r.URL.Scheme != "http" || !ok || ht.DisableKeepAlives {
		return r
	}
	v, ok := r.Header["Connection"]
	if !ok {
		return r
	}
	r = r.Clone(r.Context())
	delete(r.Header, "Connection")
	r.Header["connection"] = v
	return r
}

// cut closes the upgraded connection, if there is one.
func (t *wsTap) cut() {
	t.mu.Lock()
	c := t.conn
	t.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// wsStream is the Stream of WebSocket. Next reads frames on the caller's
// goroutine; the stream starts no goroutine of its own (the heartbeat's timer
// callback runs only while it has work).
type wsStream struct {
	w     *WebSocket
	conn  *websocket.Conn
	tap   *wsTap
	act   *wsActivity
	limit int64

	// life ends with the stream; its cause says why it ended early (Close,
	// a stall verdict, Next's ctx, the ctx given to Open). When it ends,
	// the connection is cut, which ends a read under way. Reads themselves
	// get a context that never ends: coder/websocket registers and removes
	// a context.AfterFunc around every frame read with a cancellable one,
	// several allocations per message.
	life      context.Context
	cancel    context.CancelCauseFunc
	unwatch   func() bool   // stops the cut of the connection when life ends
	watchDone chan struct{} // closed once that cut has run

	closing   atomic.Bool // set first thing by Close
	closeOnce sync.Once

	// Used by Next only.
	pending []Message  // decoded messages of the last frame not yet returned
	batch   []Message  // backing array of pending, reused frame after frame
	dec     envDecoder // reused envelope decoder (it shares repeated event names)
	decoder Decoder    // the Decoder in force, nil for the envelope
	buf     []byte     // the last frame; reused, never aliased by a Message
	partial []byte     // the start of a frame whose read failed
	err     error      // the error that finished the stream

	hb   Heartbeat
	beat *wsHeartbeat // nil when the heartbeat is off
}

func newWSStream(ctx context.Context, w *WebSocket, conn *websocket.Conn, tap *wsTap, act *wsActivity, limit int64, req Request) *wsStream {
	s := &wsStream{w: w, conn: conn, tap: tap, act: act, limit: limit, hb: req.Heartbeat, decoder: w.Decoder}
	if s.decoder == nil {
		s.decoder = req.Decoder
	}
	s.life, s.cancel = context.WithCancelCause(ctx)
	s.watchDone = make(chan struct{})
	s.unwatch = context.AfterFunc(s.life, func() {
		defer close(s.watchDone)
		_ = conn.CloseNow()
	})
	return s
}

// startHeartbeat starts liveness detection, when it is on.
func (s *wsStream) startHeartbeat() {
	if s.hb.Enabled() {
		s.beat = startWSHeartbeat(s)
	}
}

// Next returns the next message. A frame holding an array yields its
// messages one by one before the next frame is read.
//
// If ctx ends while Next waits for a frame, the connection is closed (a
// coder/websocket read cannot be abandoned and the connection kept) and Next
// returns a Transient *Error wrapping ctx.Err(). As after every error, the
// stream is then finished.
func (s *wsStream) Next(ctx context.Context) (Message, error) {
	if s.err == nil && s.closing.Load() {
		s.finish(&Error{Transport: NameWebSocket, Op: "read", Class: Transient, Err: errStreamClosed})
	}
	if len(s.pending) > 0 && s.err == nil {
		return s.pop(), nil
	}
	if s.err == nil && ctx.Err() != nil {
		s.finish(&Error{Transport: NameWebSocket, Op: "read", Class: Transient, Err: ctx.Err()})
	}
	for s.err == nil {
		frame, err := s.readFrame(ctx)
		if err != nil {
			s.finish(s.readError(err))
			break
		}
		if s.w.Control != nil {
			kind, err := s.w.Control(frame)
			if err != nil {
				s.finish(controlError("read", err))
				break
			}
			if kind == FrameReply || kind == FrameAck {
				continue
			}
		}
		s.batch = s.decode(s.batch[:0], frame) // never empty
		s.pending = s.batch
		return s.pop(), nil
	}
	return Message{}, s.err
}

func (s *wsStream) pop() Message {
	m := s.pending[0]
	s.pending[0] = Message{}
	s.pending = s.pending[1:]
	return m
}

// finish records err as the end of the stream and stops the heartbeat; a
// ping under way ends at once, its ctx being part of the stream's life.
func (s *wsStream) finish(err *Error) {
	s.err = err
	s.pending = nil
	s.cancel(err)
	if s.beat != nil {
		s.beat.stop()
	}
}

// readFrame reads one data frame into s.buf, marking the time spent inside
// the read for the heartbeat.
func (s *wsStream) readFrame(ctx context.Context) ([]byte, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { s.cancel(ctx.Err()) })
		defer stop()
	}
	s.act.beginRead()
	defer s.act.endRead()

	if s.life.Err() != nil {
		return nil, context.Cause(s.life)
	}
	_, r, err := s.conn.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	s.act.inbound()
	return s.readBody(r)
}

// wsMinBuffer is the first size of the frame buffer, which then doubles as
// frames need.
const wsMinBuffer = 512

// readBody reads the frame body r into s.buf. Every read but the first
// (which mostly comes with the header, already recorded) counts as activity
// for the heartbeat: a large frame arriving slowly is not silence.
//
// The buffer never grows past limit+1 bytes: by then coder/websocket has
// failed the read with ErrMessageTooBig, so an oversized frame is not read
// in whole.
func (s *wsStream) readBody(r io.Reader) ([]byte, error) {
	buf := s.buf[:0]
	for first := true; ; first = false {
		if len(buf) == cap(buf) {
			buf = growFrame(buf, s.limit)
			s.buf = buf // kept for the next frames
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 && !first {
			s.act.inbound()
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			s.partial = buf // what arrived of a frame that failed, for its id
			return nil, err
		}
	}
}

// growFrame returns buf with room for more, doubling its capacity but not
// past limit+1. At that size it returns buf unchanged: the next read of the
// body then fails (the limit is reached) instead of reading nothing.
func growFrame(buf []byte, limit int64) []byte {
	size := min(max(2*int64(cap(buf)), wsMinBuffer), limit+1)
	if size <= int64(cap(buf)) {
		return buf
	}
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	return grown
}

// readError classifies the error that ended a read. A connection that
// ended without a close frame carries status 1006, as RFC 6455 reports it.
func (s *wsStream) readError(err error) *Error {
	e := &Error{Transport: NameWebSocket, Op: "read", Class: Transient}
	code := websocket.CloseStatus(err)
	switch {
	case s.closing.Load():
		e.Err = errStreamClosed
	case context.Cause(s.life) != nil:
		e.Err = context.Cause(s.life) // stall verdict, Next's or Open's ctx
	case errors.Is(err, websocket.ErrMessageTooBig):
		e.Err = &TooLargeError{ID: s.partialID(), Size: s.limit + 1, Limit: s.limit, What: "frame"}
	case code != -1:
		e.StatusCode = int(code)
		e.Err = wsCloseCause(code, err)
		if code == websocket.StatusNormalClosure {
			e.Class = EndOfStream
		}
	default:
		e.StatusCode = int(websocket.StatusAbnormalClosure)
		e.Err = wsDropCause(err)
	}
	if code != -1 && s.w.CloseClass != nil {
		if c := s.w.CloseClass(int(code)); c != 0 {
			e.Class = c
		}
	}
	return e
}

// Send implements Sender: it writes data as one frame, text when data is
// valid UTF-8 and binary otherwise, and returns once the whole frame is
// written to the connection. It fails at once, sending nothing, on a stream
// that is closed or finished. If ctx ends during the write, the connection
// is closed (coder/websocket cannot abandon a write and keep it).
func (s *wsStream) Send(ctx context.Context, data []byte, _ string) error {
	if s.closing.Load() || s.life.Err() != nil {
		return &Error{Transport: NameWebSocket, Op: "send", Class: Transient, Err: errStreamClosed}
	}
	typ := websocket.MessageText
	if !utf8.Valid(data) {
		typ = websocket.MessageBinary
	}
	if err := s.conn.Write(ctx, typ, data); err != nil {
		cause := errStreamClosed
		if !s.closing.Load() {
			cause = wsCause(err)
		}
		return &Error{Transport: NameWebSocket, Op: "send", Class: Transient, Err: cause}
	}
	return nil
}

// Close ends the stream with a normal closure (status 1000). It stops the
// heartbeat, gives the close handshake up to a second and then cuts the
// connection, which unblocks a pending Next. It is idempotent and returns
// once the stream's goroutines have exited.
// NotifyRead implements ReadNotifier: f runs before each read of the
// connection, made when every frame already received has been read.
func (s *wsStream) NotifyRead(f func()) { s.tap.notify.Store(&f) }

func (s *wsStream) Close() error {
	s.closeOnce.Do(s.shutdown)
	return nil
}

func (s *wsStream) shutdown() {
	s.closing.Store(true)
	if s.beat != nil {
		s.beat.stop()
	}
	cut := make(chan struct{})
	grace := time.AfterFunc(wsCloseGrace, func() {
		defer close(cut)
		s.tap.cut()
	})
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
	if !grace.Stop() {
		<-cut
	}
	s.cancel(net.ErrClosed)
	_ = s.conn.CloseNow()
	if !s.unwatch() {
		<-s.watchDone
	}
}
