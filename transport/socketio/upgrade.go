package socketio

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/transport"
)

// This file moves a polling session onto WebSocket in place, as the
// Engine.IO protocol lays it out:
//
//  1. open a WebSocket with the session id, send "2probe", wait for "3probe";
//  2. pause polling: start no new GET and no new POST, and let the ones in
//     flight finish (the server answers the pending GET with a noop every
//     100 ms once it has seen the probe, so that it ends quickly; aborting
//     it would close the session);
//  3. send "5" (upgrade) on the WebSocket, and from then on never poll again:
//     packets queued meanwhile go out on the WebSocket, and what the server
//     had not yet written to polling comes over it.
//
// A probe that fails (a proxy that refuses WebSocket, no "3probe" in time)
// leaves the session on polling, untouched: the server drops the probe
// after its upgradeTimeout. The upgrader tries again after upgradeRetry.

// probe is the answer the server gives to the probe ping.
const probe = "probe"

// upgrader tries the upgrade until it succeeds or the session ends. Once
// it has switched, it reads the WebSocket for the rest of the session.
func (e *engine) upgrader() {
	defer e.wg.Done()
	for {
		conn, err := e.probe()
		if err == nil {
			if e.switchTo(conn) {
				e.notify(Polling, WebSocket)
				e.wg.Add(1) // readWebSocket's Done balances it
				e.readWebSocket(conn)
			}
			return
		}
		if e.cfg.upgradeRetry < 0 {
			return
		}
		t := time.NewTimer(e.cfg.upgradeRetry)
		select {
		case <-t.C:
		case <-e.life.Done():
			t.Stop()
			return
		}
	}
}

// probe opens a WebSocket into the session and checks it with the probe
// ping.
func (e *engine) probe() (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(e.life, e.cfg.upgradeTimeout)
	defer cancel()
	conn, err := e.dial(ctx, "upgrade", e.hs.SID)
	if err != nil {
		return nil, err
	}
	err = conn.Write(ctx, websocket.MessageText, []byte{enginePing, 'p', 'r', 'o', 'b', 'e'})
	if err == nil {
		var typ websocket.MessageType
		var b []byte
		typ, b, err = conn.Read(ctx)
		if err == nil && (typ != websocket.MessageText || string(b) != string(enginePong)+probe) {
			err = fmt.Errorf("the probe was answered %s", quoteShort(string(b)))
		}
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, fail("upgrade", transport.Transient, fmt.Errorf("%w: %w", ErrUpgrade, plainCause(hideEOF(err))))
	}
	return conn, nil
}

// switchTo pauses polling and makes conn, a probed WebSocket, the session's
// carrier. It reports whether it did; if not, the session has ended.
func (e *engine) switchTo(conn *websocket.Conn) bool {
	e.mu.Lock()
	e.upgrading = true
	e.cond.Broadcast()
	for !e.closed && !(e.pollerDone && !e.posting) {
		e.cond.Wait()
	}
	closed := e.closed
	e.mu.Unlock()
	if closed {
		_ = conn.CloseNow()
		return false
	}
	ctx, cancel := context.WithTimeout(e.life, e.cfg.requestTimeout)
	err := conn.Write(ctx, websocket.MessageText, []byte{engineUpgrade})
	cancel()
	if err != nil {
		_ = conn.CloseNow()
		e.fail(fail("read", transport.Transient, fmt.Errorf("%w: sending the upgrade packet: %w", ErrUpgrade, hideEOF(err))))
		return false
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = conn.CloseNow()
		return false
	}
	e.mode, e.ws, e.upgrading = WebSocket, conn, false
	e.cond.Broadcast()
	e.mu.Unlock()
	return true
}
