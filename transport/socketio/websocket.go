package socketio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/transport"
)

// This file is Engine.IO over WebSocket (coder/websocket): one packet per
// frame, text frames as "<type><data>", a binary frame a binary message.
// A session may start on WebSocket (the open packet is then its first
// frame), or move to it from polling (upgrade.go).

// dial opens a WebSocket to the engine, joining session sid when it is not
// empty. ctx bounds the handshake only.
func (e *engine) dial(ctx context.Context, op, sid string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout)
	defer cancel()
	opts := &websocket.DialOptions{
		HTTPClient:      e.cfg.client,
		HTTPHeader:      e.cfg.header.Clone(),
		CompressionMode: websocket.CompressionDisabled,
	}
	conn, resp, err := websocket.Dial(ctx, e.url(WebSocket, sid), opts)
	if err != nil {
		if resp != nil && resp.StatusCode != 0 && !errors.Is(err, transport.ErrTooManyRedirects) {
			return nil, redact(answerError(op, resp, true), e.cfg.query)
		}
		return nil, redact(requestError(op, plainCause(hideEOF(err))), e.cfg.query)
	}
	// One packet is the type byte and its data.
	conn.SetReadLimit(e.cfg.limit + 1)
	return conn, nil
}

// handshakeWebSocket opens a session that never polls: the open packet is
// the first frame.
func (e *engine) handshakeWebSocket(ctx context.Context) (*websocket.Conn, handshake, error) {
	conn, err := e.dial(ctx, "open", "")
	if err != nil {
		return nil, handshake{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout)
	defer cancel()
	typ, b, err := conn.Read(rctx)
	if err != nil {
		_ = conn.CloseNow()
		return nil, handshake{}, fail("open", transport.Transient, plainCause(hideEOF(err)))
	}
	p, err := decodePacket(b)
	if err == nil && (typ != websocket.MessageText || p.typ != engineOpen) {
		err = fmt.Errorf("the first frame is %s, not an open packet", quoteShort(string(b)))
	}
	var hs handshake
	if err == nil {
		hs, err = parseOpen(p.data)
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, handshake{}, fail("open", transport.Transient, malformed(err))
	}
	return conn, hs, nil
}

// readWebSocket is the reader while the session is on WebSocket.
func (e *engine) readWebSocket(conn *websocket.Conn) {
	defer e.wg.Done()
	// Frames are read with a context that never ends, into a buffer reused
	// from frame to frame, and copied out at their exact size: a read with
	// a cancellable context makes coder/websocket register and remove a
	// context.AfterFunc and a read timeout around every frame, and Read
	// grows a new buffer for each. The end of the session's life closes the
	// connection (see open and switchTo), which ends a read under way.
	var buf []byte
	for {
		typ, b, err := readFrame(conn, &buf)
		if err != nil {
			if e.life.Err() == nil {
				e.fail(e.wsReadError(err))
			}
			return
		}
		var p packet
		if typ == websocket.MessageBinary {
			p = packet{typ: engineMessage, data: b, binary: true}
		} else if p, err = decodePacket(b); err != nil {
			e.fail(fail("read", transport.Transient, malformed(err)))
			return
		}
		if !e.handle([]packet{p}) {
			return
		}
	}
}

// readFrame reads the next frame of conn into *buf, reused and grown as
// needed, and returns a copy of it.
func readFrame(conn *websocket.Conn, buf *[]byte) (websocket.MessageType, []byte, error) {
	typ, r, err := conn.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b[:0]
			return 0, nil, err
		}
	}
	*buf = b[:0]
	if cap(b) > 64<<10 {
		*buf = nil // a rare large frame's buffer is not kept for the connection's life
	}
	return typ, bytes.Clone(b), nil
}

// wsReadError classifies the error that ended a read.
func (e *engine) wsReadError(err error) *transport.Error {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fail("read", transport.Transient, tooLarge(e.cfg.limit+2, e.cfg.limit, "frame"))
	}
	code := int(websocket.CloseStatus(err))
	if code == -1 {
		code = int(websocket.StatusAbnormalClosure) // no close frame: 1006
	}
	te := fail("read", transport.Transient, &closedError{err: hideEOF(err)})
	te.StatusCode = code
	return te
}

// closedError is the cause of a WebSocket that the server (or the network)
// closed under the session: it matches ErrServerClosed and the library's
// own error.
type closedError struct{ err error }

func (c *closedError) Error() string   { return "connection closed by the server" }
func (c *closedError) Unwrap() []error { return []error{ErrServerClosed, c.err} }

// writeFrames writes one frame per packet. A write that stalls past the
// request timeout closes the connection, and so ends the session.
func (e *engine) writeFrames(conn *websocket.Conn, batch []outgoing) error {
	for _, o := range batch {
		ctx, cancel := context.WithTimeout(e.life, e.cfg.requestTimeout)
		var err error
		if o.p.binary {
			err = conn.Write(ctx, websocket.MessageBinary, o.p.data)
		} else {
			err = conn.Write(ctx, websocket.MessageText, appendPacket(nil, o.p))
		}
		cancel()
		if err != nil {
			if e.life.Err() != nil {
				return e.failure("send")
			}
			return fail("send", transport.Transient, plainCause(hideEOF(err)))
		}
	}
	return nil
}

// hideEOF keeps a connection that broke off from matching io.EOF, which
// callers take for a clean end.
func hideEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", err.Error(), io.ErrUnexpectedEOF)
	}
	return err
}
