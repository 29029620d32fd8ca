package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// FrameKind says what an inbound WebSocket frame is to the subscription, as
// judged by WebSocket.Control.
type FrameKind int

const (
	// FrameMessage is a frame that carries messages: it is decoded and its
	// messages delivered. It is the zero value, and what every frame is when
	// WebSocket.Control is nil.
	FrameMessage FrameKind = iota
	// FrameReply is a reply to something the client sent (an application
	// ping, a subscribe request): it proves the connection alive and is
	// never delivered.
	FrameReply
	// FrameAck confirms the subscription (see WebSocket.ConfirmTimeout). It
	// is never delivered.
	FrameAck
	// FrameAckMessages confirms the subscription and also carries messages
	// (a reply that holds the messages recovered since the cursor): it is
	// decoded and its messages delivered.
	FrameAckMessages
)

// errNoAck is wrapped by the failure of an Open whose confirmation did not
// arrive in time.
var errNoAck = errors.New("no confirmation of the subscription")

// sendHello sends the frames of w.Hello for cursor, in order.
func (w *WebSocket) sendHello(ctx context.Context, conn *websocket.Conn, cursor string) error {
	if w.Hello == nil {
		return nil
	}
	frames, err := w.Hello(cursor)
	if err != nil {
		return &Error{Transport: NameWebSocket, Op: "open", Class: Permanent,
			Err: fmt.Errorf("building the frames to send on connect: %w", err)}
	}
	for _, f := range frames {
		if err := conn.Write(ctx, websocket.MessageText, f); err != nil {
			return &Error{Transport: NameWebSocket, Op: "open", Class: Transient,
				Err: fmt.Errorf("sending a frame on connect: %w", wsCause(err))}
		}
	}
	return nil
}

// controlError turns an error returned by Control into the *Error that ends
// the stream: a *Error keeps its class, anything else is a refusal by the
// server and so permanent.
func controlError(op string, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		cp := *te
		cp.Transport, cp.Op = NameWebSocket, op
		return &cp
	}
	return &Error{Transport: NameWebSocket, Op: op, Class: Permanent, Err: err}
}

// awaitAck reads frames until Control confirms the subscription, for at
// most d. Messages that arrive before the confirmation (and those it
// carries) are kept for Next, in order.
func (s *wsStream) awaitAck(d time.Duration) error {
	timer := time.AfterFunc(d, func() {
		s.cancel(fmt.Errorf("%w within %v", errNoAck, roundDuration(d)))
	})
	defer timer.Stop()
	for {
		frame, err := s.readFrame(context.Background())
		if err != nil {
			e := s.readError(err)
			e.Op = "open"
			return e
		}
		kind, err := s.control(frame)
		if err != nil {
			return controlError("open", err)
		}
		switch kind {
		case FrameAck:
			return nil
		case FrameMessage, FrameAckMessages:
			s.pending = s.decode(s.pending, frame)
			s.batch = s.pending
			if kind == FrameAckMessages {
				return nil
			}
		}
	}
}

// control judges frame with the transport's Control hook.
func (s *wsStream) control(frame []byte) (FrameKind, error) {
	if s.w.Control == nil {
		return FrameMessage, nil
	}
	return s.w.Control(frame)
}

// decode appends the messages of frame to dst: through the request's or
// transport's Decoder when there is one (a frame it cannot decode, or that
// yields nothing, is delivered whole without id), the envelope otherwise.
func (s *wsStream) decode(dst []Message, frame []byte) []Message {
	if s.decoder == nil {
		return s.dec.frame(dst, frame)
	}
	msgs, err := s.decoder(frame)
	if err != nil || len(msgs) == 0 {
		return append(dst, Message{Data: bytes.Clone(frame)})
	}
	return append(dst, msgs...)
}

// partialID returns the id of the envelope whose start is in s.partial (a
// frame cut short at the size limit), when the stream decodes envelopes and
// the id field comes before the cut; "" otherwise.
func (s *wsStream) partialID() string {
	if s.decoder != nil {
		return ""
	}
	return envelopePrefixID(s.partial)
}

// envelopePrefixID returns the id of the message that a frame cut short at
// the size limit was cut in, when the frame is one envelope, or a batch
// whose first envelope is the one cut; and only when the id field comes
// before the cut. It returns "" otherwise: then the message that made the
// frame too large is not known.
func envelopePrefixID(b []byte) string {
	p := jsonParser{b: b}
	p.ws()
	batch := p.peek() == '['
	if batch {
		p.i++
		p.ws()
	}
	id, complete := prefixObjectID(&p)
	if batch && complete {
		return "" // the first message is whole: a later one is too large
	}
	return id
}

// prefixObjectID reads the object at p.i up to where p.b ends, matching
// member names as the envelope decoder does. It returns the value of the id
// field (a string or a number) if that member is complete, and whether the
// whole object is.
func prefixObjectID(p *jsonParser) (id string, complete bool) {
	b := p.b
	if p.peek() != '{' {
		return "", false
	}
	p.i++
	for {
		p.ws()
		if p.peek() == '}' {
			return id, true
		}
		if p.peek() != '"' {
			return id, false
		}
		ks, ke, plain, err := p.str()
		if err != nil {
			return id, false
		}
		p.ws()
		if p.peek() != ':' {
			return id, false
		}
		p.i++
		p.ws()
		vs, ve, err := p.value()
		if err != nil || ve >= len(b) {
			return id, false // cut short inside (or right at the end of) this value
		}
		if fieldOf(b[ks:ke], plain) == "ID" {
			switch raw := b[vs:ve]; {
			case raw[0] == '"':
				id = unquote(raw)
			case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
				id = string(raw)
			default:
				id = ""
			}
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			return id, true
		default:
			return id, false
		}
	}
}
