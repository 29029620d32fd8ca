package socketio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/anysub/anysub/transport"
)

// This file is HTTP long-polling, Engine.IO's first carrier: a GET that the
// server holds until it has packets (a ping at the latest, every
// pingInterval), and a POST for what the client sends. At most one of each
// is in flight, as the protocol requires (a second one is an "overlap" and
// closes the session): the poller makes the GETs one after another, the
// writer the POSTs.

// pollDrainLimit is how much of an unread body is drained so that its
// connection can be reused.
const pollDrainLimit = 64 << 10

// handshakePolling opens the session with a GET and returns its handshake
// and the packets that came after the open packet in the same payload.
func (e *engine) handshakePolling(ctx context.Context) (handshake, []packet, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout)
	defer cancel()
	pkts, err := e.get(ctx, "open", "")
	if err != nil {
		return handshake{}, nil, err
	}
	if pkts[0].typ != engineOpen {
		return handshake{}, nil, fail("open", transport.Transient,
			fmt.Errorf("%w: the handshake answered %s, not an open packet", errEngineFrame, quoteShort(pkts[0].String())))
	}
	hs, err := parseOpen(pkts[0].data)
	if err != nil {
		return handshake{}, nil, fail("open", transport.Transient, err)
	}
	return hs, pkts[1:], nil
}

// poller is the reader while the session polls: it handles first (what
// came with the handshake), then polls until the session ends or the
// upgrader asks it to stop.
func (e *engine) poller(first []packet) {
	defer e.wg.Done()
	if len(first) > 0 && !e.handle(first) {
		return
	}
	for {
		e.mu.Lock()
		if e.upgrading {
			e.pollerDone = true
			e.cond.Broadcast()
			e.mu.Unlock()
			return // the upgrader takes over reading
		}
		e.mu.Unlock()
		pkts, err := e.get(e.life, "read", e.hs.SID)
		if err != nil {
			if e.life.Err() == nil {
				e.fail(err)
			}
			return
		}
		if !e.handle(pkts) {
			return
		}
	}
}

// get makes one polling GET (the handshake when sid is empty) and returns
// its packets.
func (e *engine) get(ctx context.Context, op, sid string) ([]packet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url(Polling, sid), nil)
	if err != nil {
		return nil, fail(op, transport.Permanent, err)
	}
	req.Header = e.cfg.header.Clone()
	resp, err := e.cfg.client.Do(req)
	if err != nil {
		return nil, e.requestFailure(ctx, op, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, redact(answerError(op, resp, false), e.cfg.query)
	}
	if resp.ContentLength > e.cfg.maxBody {
		return nil, fail(op, transport.Transient, tooLarge(resp.ContentLength, e.cfg.maxBody, "polling response"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, e.cfg.maxBody+1))
	if err != nil {
		return nil, e.requestFailure(ctx, op, err)
	}
	if int64(len(body)) > e.cfg.maxBody {
		return nil, fail(op, transport.Transient, tooLarge(int64(len(body)), e.cfg.maxBody, "polling response"))
	}
	pkts, err := decodePayload(body, e.cfg.limit)
	if err != nil {
		return nil, fail(op, transport.Transient, malformed(err))
	}
	return pkts, nil
}

// post sends a batch of packets in one POST and waits for the server's
// "ok".
func (e *engine) post(batch []outgoing) error {
	pkts := make([]packet, len(batch))
	for i, o := range batch {
		pkts[i] = o.p
	}
	ctx, cancel := context.WithTimeout(e.life, e.cfg.requestTimeout)
	defer cancel()
	return e.postPackets(ctx, e.hs.SID, pkts)
}

// postPackets sends pkts to the polling session sid in one POST within
// ctx and waits for the server's "ok".
func (e *engine) postPackets(ctx context.Context, sid string, pkts []packet) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url(Polling, sid), bytes.NewReader(encodePayload(pkts)))
	if err != nil {
		return fail("send", transport.Permanent, err)
	}
	req.Header = e.cfg.header.Clone()
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := e.cfg.client.Do(req)
	if err != nil {
		return e.requestFailure(ctx, "send", err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return redact(answerError("send", resp, false), e.cfg.query)
	}
	return nil
}

// requestFailure classifies a request that got no answer (or whose body
// broke off): the session's own end when that is why, else the network's.
func (e *engine) requestFailure(ctx context.Context, op string, err error) *transport.Error {
	if e.life != nil && e.life.Err() != nil {
		return e.failure(op)
	}
	if ctx.Err() != nil && context.Cause(ctx) != ctx.Err() {
		return fail(op, transport.Transient, context.Cause(ctx))
	}
	return redact(requestError(op, err), e.cfg.query)
}

// drainClose reads a little of what is left of body, so that a short rest
// does not cost the connection, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, pollDrainLimit)
	_ = body.Close()
}
