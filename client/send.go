package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/anysub/anysub/transport"
)

// Delays between tries of a Send whose stream is still the same one (a
// server answering 503 to the POST, say); a new connection ends the wait at
// once.
const (
	sendRetryMin = 50 * time.Millisecond
	sendRetryMax = 2 * time.Second
)

// TransportLocal is the Transport of the copy of a message that SendWithID
// delivers itself.
const TransportLocal = "local"

// link is the stream that Send uses: the one the driver reads, while it is
// open. It is guarded by the supervisor's mu.
type link struct {
	stream  transport.Stream
	changed chan struct{} // closed, and replaced, whenever stream changes
}

// set makes st (nil: none) the stream Send uses. It runs with mu held.
func (l *link) set(st transport.Stream) {
	if l.stream == st {
		return
	}
	l.stream = st
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
}

// sendTarget returns the stream Send should use now (nil while there is
// none), and a channel closed when that changes.
func (sv *supervisor) sendTarget() (transport.Stream, <-chan struct{}) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.link.changed == nil {
		sv.link.changed = make(chan struct{})
	}
	return sv.link.stream, sv.link.changed
}

// Send sends data to the server over the connection in use: as one
// WebSocket frame, or as the body of a POST to the HTTP transport's SendURL
// (its own URL by default). It blocks until the data is sent, ctx ends, or
// the subscription ends.
//
// A nil return means: over WebSocket, that the whole frame was written to
// the connection (not that the server read it, nor acknowledged it; a
// connection that breaks just after may lose it); over HTTP, that the
// server answered the POST with a 2xx status.
//
// While the subscription is reconnecting (or paused), Send waits for the
// next connection. A try that fails on a connection being torn down is made
// again on the next one; an HTTP send is tried again with the same
// Idempotency-Key header, so a server can drop a repeat whose first try did
// arrive. Send never drops data silently: it returns nil only once the data
// is sent, and otherwise ctx's error, the subscription's end (ErrClosed or
// why it failed), a permanent failure of the send itself (a
// *transport.Error, e.g. 400 or 401 answered to the POST), or an error
// wrapping transport.ErrSendUnsupported when the transport in use cannot
// send. Failed tries are reported as EventSendFailed.
//
// Send may be called from several goroutines; each call sends its data once.
func (s *Subscription) Send(ctx context.Context, data []byte) error {
	return s.send(ctx, data, newSendKey())
}

// SendWithID sends data like Send, for a server that echoes what it
// receives back to every subscriber with the id the sender gave it (a chat
// that shows a message to its author at once, before the server has it).
// It first delivers a copy of the message itself, with ID id and Transport
// TransportLocal, unless id has already been delivered, and from then on
// drops the server's echo of id as a duplicate: the message is delivered
// once, as soon as it is sent. id is also the send's idempotency key. The
// local copy waits for room in the queue (as a message from the network
// would) and does not move the cursor, since the id is the sender's own.
// If SendWithID returns an error, the local copy has been delivered all the
// same, and the message may not have reached the server.
//
// A server that gives the echo an id of its own (so that the cursor stays
// the server's) but keeps the sender's id in another field is followed by
// mapping that field to the message's Key (transport.Fields.Key): an echo
// whose Key is id is then dropped too, and its own id moves the cursor.
func (s *Subscription) SendWithID(ctx context.Context, id string, data []byte) error {
	if id == "" {
		return fmt.Errorf("client: SendWithID needs an id")
	}
	if err := s.deliverLocal(ctx, Message{ID: id, Data: data, Transport: TransportLocal, Received: time.Now()}); err != nil {
		return err
	}
	return s.send(ctx, data, id)
}

// send tries data on each stream in turn until a try succeeds or can never
// succeed.
func (s *Subscription) send(ctx context.Context, data []byte, key string) error {
	delay := sendRetryMin
	for {
		st, changed := s.sv.sendTarget()
		if st == nil {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			case <-s.finished:
				return s.endError()
			}
		}
		snd, ok := st.(transport.Sender)
		if !ok {
			return fmt.Errorf("client: %w", transport.ErrSendUnsupported)
		}
		err := snd.Send(ctx, data, key)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		err = s.secrets.scrub(err)
		s.emit(Event{Kind: EventSendFailed, Transport: transportName(err), Err: err})
		switch transport.ClassOf(err) {
		case transport.Permanent, transport.Unsupported:
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-changed: // a new connection (or none): try it at once
			delay = sendRetryMin
		case <-t.C:
			delay = min(2*delay, sendRetryMax)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.finished:
			t.Stop()
			return s.endError()
		}
		t.Stop()
	}
}

// endError is what Send returns once the subscription has ended.
func (s *Subscription) endError() error {
	if s.closed.Load() || s.final == nil {
		return ErrClosed
	}
	return fmt.Errorf("client: the subscription has ended: %w", s.final)
}

// transportName names the transport of a *transport.Error, or "".
func transportName(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Transport
	}
	return ""
}

// newSendKey returns a random idempotency key.
func newSendKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
