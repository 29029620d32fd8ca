package socketio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/transport"
)

// This file is one Engine.IO session: a handshake, then packets in and out
// over polling or WebSocket, the server's pings answered, and the upgrade
// from polling to WebSocket in place (upgrade.go). The Socket.IO layer above
// sees an ordered sequence of message packets and a way to send its own.
//
// Goroutines, all joined by close:
//   - one reader at a time: the poller (polling.go) and then, after an
//     upgrade, the WebSocket reader (websocket.go); they answer pings,
//     feed the watchdog and hand message packets on through in;
//   - the writer, which sends queued packets in order: a POST per batch
//     while polling, a frame per packet on WebSocket;
//   - the upgrader, when the session may upgrade: it probes, pauses
//     polling, switches, and then becomes the WebSocket reader.
// The watchdog (heartbeat.go) runs on a timer and is stopped by close too.

// Names of the engine transports ("carriers" of a Socket.IO session).
const (
	Polling   = "polling"
	WebSocket = "websocket"
)

// engineConfig is what a session needs to know, fixed by Open.
type engineConfig struct {
	base           *url.URL    // the engine endpoint over http(s), with the caller's query
	query          url.Values  // the caller's credentials in the URL, hidden from errors
	header         http.Header // sent with every request; cloned for each
	client         *http.Client
	requestTimeout time.Duration // bounds a handshake, a POST, a probe's dial
	limit          int64         // bound on one packet's data
	maxBody        int64         // bound on one polling response
	hbTimeout      time.Duration // the subscription's heartbeat timeout, zero: none
	upgrade        bool          // the caller allows the upgrade to WebSocket
	upgradeTimeout time.Duration
	upgradeRetry   time.Duration // negative: never again after a failure
	carrier        func(from, to string)
}

// outgoing is a packet waiting for the writer. done, when not nil, gets the
// outcome (buffered, so the writer never waits on it).
type outgoing struct {
	p    packet
	done chan error
}

// engine is one Engine.IO session.
type engine struct {
	cfg engineConfig
	hs  handshake

	life   context.Context // ends the session; its cause is why
	cancel context.CancelCauseFunc
	in     chan []packet // message packets, in order, a batch at a time
	dog    *watchdog
	wg     sync.WaitGroup
	seq    atomic.Uint64 // cache-busting counter of polling requests

	mu         sync.Mutex
	cond       *sync.Cond // signals changes of the fields below
	mode       string     // the carrier in use: Polling or WebSocket
	ws         *websocket.Conn
	queue      []outgoing
	posting    bool // the writer has a batch out
	upgrading  bool // polling is being paused for the switch
	pollerDone bool // the poller has stopped for the switch
	closed     bool // life has ended

	stopWatch func() bool   // stops the callback that marks the end of life
	watchDone chan struct{} // closed once that callback has run
}

// openEngine makes the handshake over carrier (Polling, or WebSocket for a
// session that never polls) and starts the session's goroutines. ctx bounds
// the handshake only.
func openEngine(ctx context.Context, cfg engineConfig, carrier string) (*engine, error) {
	e := &engine{cfg: cfg, mode: carrier, in: make(chan []packet, 1)}
	e.cond = sync.NewCond(&e.mu)
	var first []packet // packets that came with the open packet
	switch carrier {
	case Polling:
		hs, rest, err := e.handshakePolling(ctx)
		if err != nil {
			return nil, err
		}
		e.hs, first = hs, rest
	default:
		conn, hs, err := e.handshakeWebSocket(ctx)
		if err != nil {
			return nil, err
		}
		e.hs, e.ws = hs, conn
	}
	e.life, e.cancel = context.WithCancelCause(context.Background())
	e.watchDone = make(chan struct{})
	e.stopWatch = context.AfterFunc(e.life, func() {
		defer close(e.watchDone)
		e.mu.Lock()
		e.closed = true
		ws := e.ws
		e.cond.Broadcast()
		e.mu.Unlock()
		if ws != nil {
			_ = ws.CloseNow()
		}
	})
	e.dog = startWatchdog(heartbeatBudget(e.hs, cfg.hbTimeout), func() {
		e.fail(fail("read", transport.Transient,
			fmt.Errorf("%w: no ping from the server for %v", transport.ErrStalled, roundDuration(heartbeatBudget(e.hs, cfg.hbTimeout)))))
	})
	e.wg.Add(2)
	go e.writer()
	if carrier == Polling {
		go e.poller(first)
	} else {
		go e.readWebSocket(e.ws)
	}
	return e, nil
}

// startUpgrade starts the upgrader when the caller allows it and the
// server offers WebSocket.
func (e *engine) startUpgrade() {
	if e.mode != Polling || !e.cfg.upgrade || !e.hs.offers(WebSocket) {
		return
	}
	e.wg.Add(1)
	go e.upgrader()
}

// carrier returns the engine transport in use.
func (e *engine) carrier() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mode
}

// fail ends the session with err, unless it has ended already.
func (e *engine) fail(err error) { e.cancel(err) }

// failure is the error that ended the session, as a *transport.Error.
func (e *engine) failure(op string) *transport.Error {
	cause := context.Cause(e.life)
	var te *transport.Error
	if errors.As(cause, &te) {
		cp := *te
		cp.Op = op
		return &cp
	}
	if cause == nil {
		cause = net.ErrClosed
	}
	return fail(op, transport.Transient, cause)
}

// close ends the session: it first sends bye (best effort, within grace)
// when the session is still healthy, then the engine's close packet, and
// returns once every goroutine has exited. A polling session that ended on
// a request of its own broken by the network (see abandoned) sends them
// too, once its goroutines have exited, in a POST of their own; when that
// POST gets no answer either, close returns the session's id, for the
// next attempt to end it on the server before it connects (see
// sayGoodbye). It returns "" otherwise.
func (e *engine) close(bye []packet, grace time.Duration) (unsent string) {
	pkts := append(bye, packet{typ: engineClose})
	healthy := e.life.Err() == nil
	if healthy && grace > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		_ = e.write(ctx, pkts...)
		cancel()
	}
	goodbye := !healthy && grace > 0 && e.abandoned()
	e.cancel(net.ErrClosed)
	e.wg.Wait()
	e.dog.stop()
	if !e.stopWatch() {
		<-e.watchDone
	}
	e.mu.Lock()
	ws := e.ws
	e.mu.Unlock()
	if ws != nil {
		_ = ws.CloseNow()
	}
	if goodbye {
		ctx, cancel := context.WithTimeout(context.Background(), min(grace, e.cfg.requestTimeout))
		defer cancel()
		if !answered(e.postPackets(ctx, e.hs.SID, pkts)) {
			return e.hs.SID
		}
	}
	return ""
}

// sayGoodbye POSTs the close packet to the polling session sid, one that
// an earlier attempt left without being able to tell the server (see
// close), so that the server ends it, and saves its namespace state for
// recovery, before the CONNECT that asks to recover that state. It waits
// at most closeGrace (or the request timeout, when shorter). It reports
// whether the server answered, "ok" or that it no longer knows the
// session (either will do); without an answer the next attempt tries again.
func sayGoodbye(ctx context.Context, cfg engineConfig, sid string) bool {
	ctx, cancel := context.WithTimeout(ctx, min(closeGrace, cfg.requestTimeout))
	defer cancel()
	e := &engine{cfg: cfg}
	return answered(e.postPackets(ctx, sid, []packet{{typ: engineClose}}))
}

// answered reports whether a request's outcome is the server's: success
// or an HTTP answer, as opposed to no answer at all.
func answered(err error) bool {
	var te *transport.Error
	return err == nil || errors.As(err, &te) && te.StatusCode != 0
}

// abandoned reports whether the session ended, while polling, on a GET or
// POST that the network broke (a connection reset or cut). The server may
// not have seen that: a response it finished writing, or a connection
// between two requests, can be lost without its knowing, and it then holds
// the session until its ping timeout, so that a reconnection made before
// that finds no namespace state to recover. The close packet, in a POST on
// a new connection, ends the session on the server at once, which saves
// that state, as engine.io-client does when a poll fails. Not after a stall
// (the network is likely still down, and the POST would only delay the
// reconnection), nor when the server ended the session itself.
func (e *engine) abandoned() bool {
	if e.carrier() != Polling {
		return false
	}
	cause := context.Cause(e.life)
	var te *transport.Error
	var ee *EngineError
	return errors.As(cause, &te) && te.StatusCode == 0 && !errors.As(cause, &ee) &&
		!errors.Is(cause, ErrServerClosed) && !errors.Is(cause, transport.ErrStalled)
}

// recv returns the next batch of message packets, or the error that ended
// the session once nothing is left.
func (e *engine) recv(ctx context.Context) ([]packet, error) {
	select {
	case b := <-e.in:
		return b, nil
	default:
	}
	select {
	case b := <-e.in:
		return b, nil
	case <-e.life.Done():
		select {
		case b := <-e.in:
			return b, nil
		default:
		}
		return nil, e.failure("read")
	case <-ctx.Done():
		return nil, fail("read", transport.Transient, ctx.Err())
	}
}

// handle deals with packets as a reader got them: pings are answered and
// feed the watchdog, message packets go on to in, a close packet ends the
// session. It reports whether the reader should go on.
func (e *engine) handle(pkts []packet) bool {
	msgs := pkts[:0]
	var end error
	for _, p := range pkts {
		switch p.typ {
		case enginePing:
			e.dog.ping()
			e.enqueue(outgoing{p: packet{typ: enginePong, data: p.data}})
		case engineMessage:
			msgs = append(msgs, p)
		case engineClose:
			end = fail("read", transport.Transient, ErrServerClosed)
		case engineOpen:
			end = fail("read", transport.Transient, fmt.Errorf("%w: a second open packet", errEngineFrame))
		}
		if end != nil {
			break
		}
	}
	if len(msgs) > 0 && !e.deliver(msgs) {
		return false
	}
	if end != nil {
		e.fail(end)
		return false
	}
	return true
}

// deliver hands a batch to the Socket.IO layer, waiting while it is busy;
// the wait does not count against the heartbeat.
func (e *engine) deliver(b []packet) bool {
	select {
	case e.in <- b:
		return true
	default:
	}
	e.dog.block()
	defer e.dog.unblock()
	select {
	case e.in <- b:
		return true
	case <-e.life.Done():
		return false
	}
}

// enqueue queues o for the writer.
func (e *engine) enqueue(o outgoing) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		if o.done != nil {
			o.done <- net.ErrClosed
		}
		return
	}
	e.queue = append(e.queue, o)
	e.cond.Broadcast()
}

// write sends pkts, in order, and returns once they are sent (the POST
// answered, or the frames written), or ctx ends. Packets that the writer
// has not taken yet when ctx ends are not sent.
func (e *engine) write(ctx context.Context, pkts ...packet) error {
	dones := make([]chan error, len(pkts))
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.failure("send")
	}
	for i, p := range pkts {
		dones[i] = make(chan error, 1)
		e.queue = append(e.queue, outgoing{p: p, done: dones[i]})
	}
	e.cond.Broadcast()
	e.mu.Unlock()
	for i, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			if e.withdraw(dones[i:]) {
				return ctx.Err()
			}
			// Under way already: its outcome comes soon (a POST has a
			// deadline, a frame write ends with the session).
			if err := <-d; err != nil {
				return err
			}
		}
	}
	return nil
}

// withdraw takes the packets whose outcome channels are dones off the
// queue, if the writer has not taken the first of them yet.
func (e *engine) withdraw(dones []chan error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	first := -1
	for i, o := range e.queue {
		if o.done == dones[0] {
			first = i
			break
		}
	}
	if first < 0 {
		return false
	}
	drop := make(map[chan error]bool, len(dones))
	for _, d := range dones {
		drop[d] = true
	}
	kept := e.queue[:0]
	for _, o := range e.queue {
		if !drop[o.done] {
			kept = append(kept, o)
		}
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	return true
}

// writer sends queued packets until the session ends. While polling it
// joins them into one POST, up to the server's maxPayload; on WebSocket it
// writes one frame per packet. It holds back while polling is paused for
// the upgrade.
func (e *engine) writer() {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		for !e.closed && (len(e.queue) == 0 || e.upgrading) {
			e.cond.Wait()
		}
		if e.closed {
			q := e.queue
			e.queue = nil
			e.mu.Unlock()
			err := e.failure("send")
			for _, o := range q {
				if o.done != nil {
					o.done <- err
				}
			}
			return
		}
		batch := e.takeBatch()
		mode, ws := e.mode, e.ws
		e.posting = true
		e.mu.Unlock()

		var err error
		if mode == Polling {
			err = e.post(batch)
		} else {
			err = e.writeFrames(ws, batch)
		}
		e.mu.Lock()
		e.posting = false
		e.cond.Broadcast()
		e.mu.Unlock()
		for _, o := range batch {
			if o.done != nil {
				o.done <- err
			}
		}
		if err != nil {
			e.fail(err)
		}
	}
}

// takeBatch takes the packets of the next send off the queue: all of them
// on WebSocket, as many as fit in maxPayload (at least one) while polling.
// It runs with mu held.
func (e *engine) takeBatch() []outgoing {
	n := len(e.queue)
	if e.mode == Polling {
		size := int64(0)
		for i, o := range e.queue {
			size += int64(len(o.p.data)) + 2
			if o.p.binary {
				size += int64(len(o.p.data)) / 3
			}
			if i > 0 && size > e.hs.MaxPayload {
				n = i
				break
			}
		}
	}
	batch := make([]outgoing, n)
	copy(batch, e.queue)
	rest := copy(e.queue, e.queue[n:])
	clear(e.queue[rest:])
	e.queue = e.queue[:rest]
	return batch
}

// url returns the endpoint of a request over carrier, with the session id
// once there is one.
func (e *engine) url(carrier string, sid string) string {
	u := *e.cfg.base
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", carrier)
	if sid != "" {
		q.Set("sid", sid)
	}
	if carrier == Polling {
		q.Set("t", strconv.FormatUint(e.seq.Add(1), 36))
	} else {
		switch u.Scheme {
		case "http":
			u.Scheme = "ws"
		case "https":
			u.Scheme = "wss"
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// notify reports a change of carrier.
func (e *engine) notify(from, to string) {
	if e.cfg.carrier != nil {
		e.cfg.carrier(from, to)
	}
}
