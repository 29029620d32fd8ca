package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/anysub/anysub/transport"
)

// stream is the Stream of Transport: one namespace over one Engine.IO
// session. Next reads on the caller's goroutine what the engine's reader
// hands on; the engine owns every goroutine.
type stream struct {
	t        *Transport
	e        *engine
	nsp      string
	limit    int64
	maxAtt   int
	session  *transport.Session
	state    *sessionState // what the subscription keeps between attempts
	sendName []byte        // the JSON string of the event Send emits

	closeOnce   sync.Once
	unwatchOnce sync.Once
	unwatch     func() bool   // stops the Close when Open's ctx ends
	watchDone   chan struct{} // closed once that Close has run

	// Used by Next (and connect, before it) only.
	offsets bool                // the server stamps events with recovery offsets
	batch   []packet            // engine packets not yet read
	ready   []transport.Message // messages to hand out before reading more
	bin     *binaryEvent        // a binary event waiting for its attachments
	err     error               // the error that finished the stream
}

var (
	_ transport.Stream = (*stream)(nil)
	_ transport.Sender = (*stream)(nil)
)

// binaryEvent is a BINARY_EVENT whose attachments are still arriving.
type binaryEvent struct {
	p    sioPacket
	data []byte // the placeholder JSON, copied
	atts [][]byte
	size int64
}

func newStream(t *Transport, e *engine, nsp string, req transport.Request) *stream {
	name := t.SendEvent
	if name == "" {
		name = DefaultSendEvent
	}
	sendName, _ := json.Marshal(name)
	maxAtt := t.MaxAttachments
	if maxAtt <= 0 {
		maxAtt = DefaultMaxAttachments
	}
	return &stream{t: t, e: e, nsp: nsp, limit: e.cfg.limit, maxAtt: maxAtt,
		session: req.Session, sendName: sendName}
}

// watch closes the stream when ctx ends.
func (s *stream) watch(ctx context.Context) {
	s.watchDone = make(chan struct{})
	s.unwatch = context.AfterFunc(ctx, func() {
		defer close(s.watchDone)
		s.closeOnce.Do(s.shutdown)
	})
}

// item is what readItem found: an event, or a namespace packet that is
// not one.
type item struct {
	msg  transport.Message
	kind byte // sioEvent for a message, else the packet type
	data []byte
}

// connect sends the namespace CONNECT and waits for the answer, holding
// back the events that come before it. It sets what Next hands out first.
func (s *stream) connect(ctx context.Context, st *sessionState, cursor string, auth map[string]json.RawMessage) error {
	pid, connected := st.snapshot()
	payload, err := connectPayload(auth, pid, cursor)
	if err != nil {
		return fail("open", transport.Permanent, err)
	}
	timeout := or(s.t.ConnectTimeout, DefaultConnectTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("no answer to the namespace CONNECT within %v", roundDuration(timeout)))
	defer cancel()
	pkt := packet{typ: engineMessage, data: appendSIO(nil, sioConnect, s.nsp, -1, payload)}
	if err := s.e.write(ctx, pkt); err != nil {
		return s.openError(ctx, err)
	}
	s.offsets = pid != "" // replayed events carry offsets only if the session is recovered
	held := &heldBack{limit: s.t.MaxReplaySize}
	if held.limit <= 0 {
		held.limit = DefaultMaxReplaySize
	}
	for {
		it, err := s.readItem(ctx)
		if err != nil {
			return s.openError(ctx, err)
		}
		switch it.kind {
		case sioEvent:
			held.add(it.msg)
		case sioConnectError:
			return fail("open", transport.Permanent, parseConnectError(s.nsp, it.data))
		case sioDisconnect:
			return fail("open", transport.EndOfStream, ErrDisconnected)
		case sioConnect:
			answer, err := parseAnswer(it.data)
			if err != nil {
				return fail("open", transport.Transient, malformed(err))
			}
			s.offsets = answer.PID != ""
			s.ready = resume(pid, connected, cursor, answer, held)
			st.connectedAs(answer.PID)
			return nil
		}
	}
}

// openError gives an error met during connect the op "open", and the
// timeout's own cause when the answer did not come in time.
func (s *stream) openError(ctx context.Context, err error) error {
	te := s.e.failure("open")
	if tErr, ok := err.(*transport.Error); ok {
		cp := *tErr
		te = &cp
		te.Op = "open"
	}
	if ctx.Err() != nil && s.e.life.Err() == nil {
		te = fail("open", transport.Transient, context.Cause(ctx))
	}
	return te
}

// Next returns the next event of the namespace.
func (s *stream) Next(ctx context.Context) (transport.Message, error) {
	for {
		if len(s.ready) > 0 {
			m := s.ready[0]
			s.ready[0] = transport.Message{}
			s.ready = s.ready[1:]
			return m, nil
		}
		if s.err != nil {
			return transport.Message{}, s.err
		}
		it, err := s.readItem(ctx)
		if err != nil {
			s.err = err
			continue
		}
		switch it.kind {
		case sioEvent:
			return it.msg, nil
		case sioDisconnect:
			s.err = fail("read", transport.EndOfStream, ErrDisconnected)
		case sioConnectError:
			s.err = fail("read", transport.Permanent, parseConnectError(s.nsp, it.data))
		}
	}
}

// readItem reads engine packets until one makes an item of this
// namespace: an event (binary ones once complete), a CONNECT answer, a
// CONNECT_ERROR or a DISCONNECT. Acks are sent for events that ask.
func (s *stream) readItem(ctx context.Context) (item, error) {
	for {
		if len(s.batch) == 0 {
			b, err := s.e.recv(ctx)
			if err != nil {
				return item{}, err
			}
			s.batch = b
		}
		p := s.batch[0]
		s.batch[0] = packet{}
		s.batch = s.batch[1:]
		it, ok, err := s.packet(p)
		if err != nil {
			s.e.fail(err)
			return item{}, err
		}
		if ok {
			return it, nil
		}
	}
}

// packet reads one engine message packet; ok says it made an item.
func (s *stream) packet(p packet) (it item, ok bool, err error) {
	if s.bin != nil {
		return s.attachment(p)
	}
	if p.binary {
		return item{}, false, fail("read", transport.Transient, fmt.Errorf("%w: a binary message without a binary event", errSIOPacket))
	}
	sp, err := decodeSIO(p.data, s.maxAtt)
	if err != nil {
		return item{}, false, fail("read", transport.Transient, malformed(err))
	}
	if sp.nsp != s.nsp {
		if sp.attachments > 0 {
			// Its attachments follow; read them to skip them.
			s.bin = &binaryEvent{p: sp}
		}
		return item{}, false, nil
	}
	switch sp.typ {
	case sioEvent:
		return s.event(sp, sp.data)
	case sioBinaryEvent, sioBinaryAck:
		if sp.attachments == 0 {
			if sp.typ == sioBinaryAck {
				return item{}, false, nil
			}
			return s.event(sp, sp.data)
		}
		s.bin = &binaryEvent{p: sp, data: append([]byte(nil), sp.data...), size: int64(len(sp.data))}
		return item{}, false, nil
	case sioConnect, sioConnectError, sioDisconnect:
		return item{kind: sp.typ, data: append([]byte(nil), sp.data...)}, true, nil
	}
	return item{}, false, nil // an ack: the stream asks for none
}

// attachment adds p to the binary event under way.
func (s *stream) attachment(p packet) (item, bool, error) {
	b := s.bin
	if !p.binary {
		return item{}, false, fail("read", transport.Transient, fmt.Errorf("%w: a text packet where an attachment was due", errSIOPacket))
	}
	b.size += int64(len(p.data))
	if b.size > s.limit {
		return item{}, false, fail("read", transport.Transient, tooLarge(b.size, s.limit, "binary event"))
	}
	if b.p.nsp == s.nsp {
		b.atts = append(b.atts, append([]byte(nil), p.data...))
	} else {
		b.atts = append(b.atts, nil)
	}
	if len(b.atts) < b.p.attachments {
		return item{}, false, nil
	}
	s.bin = nil
	if b.p.nsp != s.nsp || b.p.typ == sioBinaryAck {
		return item{}, false, nil
	}
	data, err := fillPlaceholders(b.data, b.atts)
	if err != nil {
		return item{}, false, fail("read", transport.Transient, malformed(err))
	}
	return s.event(b.p, data)
}

// event makes the message of an event packet of this namespace, and
// acknowledges it when the server asks.
func (s *stream) event(sp sioPacket, data []byte) (item, bool, error) {
	ev, err := splitEvent(data, s.offsets && sp.ack < 0)
	if err != nil {
		return item{}, false, fail("read", transport.Transient, malformed(err))
	}
	if sp.ack >= 0 {
		ack := appendSIO(nil, sioAck, s.nsp, sp.ack, []byte("[]"))
		s.e.enqueue(outgoing{p: packet{typ: engineMessage, data: ack}})
	}
	if int64(len(ev.args)) > s.limit {
		return item{}, false, fail("read", transport.Transient,
			&transport.TooLargeError{ID: ev.offset, Size: int64(len(ev.args)), Limit: s.limit, What: "event data"})
	}
	return item{kind: sioEvent, msg: transport.Message{ID: ev.offset, Event: ev.name, Data: ev.args}}, true, nil
}

// Send implements transport.Sender: it emits SendEvent with data as its
// one argument (data itself when it is valid JSON, else data as a JSON
// string) and returns once it is sent: the POST answered while polling,
// the frame written on WebSocket. key is not used: Socket.IO has no
// idempotency key.
func (s *stream) Send(ctx context.Context, data []byte, _ string) error {
	arg := data
	if !json.Valid(data) {
		arg, _ = json.Marshal(string(data))
	}
	payload := make([]byte, 0, len(s.sendName)+len(arg)+3)
	payload = append(payload, '[')
	payload = append(payload, s.sendName...)
	payload = append(payload, ',')
	payload = append(payload, arg...)
	payload = append(payload, ']')
	pkt := appendSIO(nil, sioEvent, s.nsp, -1, payload)
	if int64(len(pkt))+1 > s.e.hs.MaxPayload {
		return fail("send", transport.Permanent, tooLarge(int64(len(pkt))+1, s.e.hs.MaxPayload, "event for the server"))
	}
	if s.e.life.Err() != nil {
		return s.e.failure("send")
	}
	err := s.e.write(ctx, packet{typ: engineMessage, data: pkt})
	if err == nil {
		return nil
	}
	if te, ok := err.(*transport.Error); ok {
		cp := *te
		cp.Op = "send"
		return &cp
	}
	if s.e.life.Err() != nil {
		return s.e.failure("send")
	}
	return fail("send", transport.Transient, err)
}

// Close ends the stream. It sends the Engine.IO close packet (preceded by
// the namespace DISCONNECT once the subscription has ended for good), and
// returns once every goroutine of the stream has exited. It is idempotent.
func (s *stream) Close() error {
	s.closeOnce.Do(s.shutdown)
	s.unwatchOnce.Do(func() {
		if s.unwatch != nil && !s.unwatch() {
			<-s.watchDone // the Close of an ended ctx is under way
		}
	})
	return nil
}

func (s *stream) shutdown() {
	var bye []packet
	if s.session.Ended() {
		bye = append(bye, packet{typ: engineMessage, data: appendSIO(nil, sioDisconnect, s.nsp, -1, nil)})
	}
	if sid := s.e.close(bye, closeGrace); sid != "" && s.state != nil {
		s.state.leftOpen(sid)
	}
}
