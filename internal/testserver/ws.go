package testserver

import (
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// malformedFrame is the text frame InjectMalformed sends on /ws.
var malformedFrame = []byte("not json{")

// serveWS upgrades the request and streams the log: first the backlog as
// array frames, then one frame per new message. A reader goroutine (see
// readWS) answers pings and close frames and records the frames the client
// sends; it ends when the connection closes, and the handler waits for it.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, a admission) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered the request
	}
	defer c.CloseNow()
	st := s.register(PathWebSocket, a.conn)
	defer s.unregister(st)

	if a.stall {
		// Read raw bytes and drop them: pings go unanswered, yet the handler
		// still notices the client leaving, DropAll and Close (both close
		// the socket).
		if a.conn != nil {
			_, _ = io.Copy(io.Discard, a.conn)
		} else {
			s.park(r.Context(), st)
		}
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	readDone := make(chan struct{})
	go s.readWS(ctx, cancel, c, r.Header.Clone(), readDone) // joined below
	defer func() {
		c.CloseNow()
		<-readDone
	}()
	cursor := a.cursor
	for {
		s.mu.Lock()
		closing, code, reason := st.wsClosing, st.wsCode, st.wsReason
		var frames [][]byte
		if !closing {
			frames, cursor = s.wsFramesLocked(st, cursor)
		}
		wake := s.changed
		s.mu.Unlock()

		if closing {
			_ = c.Close(websocket.StatusCode(code), reason)
			return
		}
		for _, f := range frames {
			if err := c.Write(ctx, websocket.MessageText, f); err != nil {
				return
			}
		}
		if len(frames) > 0 {
			continue // there may be more backlog
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-st.kill:
			return
		case <-s.done:
			return
		}
	}
}

// wsFramesLocked builds the frames a WebSocket owes after cursor: pending
// injections, then at most MaxBatch messages, those of the backlog in one
// array frame and newer ones one frame each. It returns the new cursor.
// s.mu must be held.
func (s *Server) wsFramesLocked(st *stream, cursor uint64) ([][]byte, uint64) {
	var frames [][]byte
	if d := s.takeOversizedLocked(PathWebSocket); d != nil {
		frames = append(frames, encodeMessage("", "", d))
	}
	if s.takeMalformedLocked(PathWebSocket) {
		frames = append(frames, malformedFrame)
	}
	msgs := s.log.after(cursor, s.opts.MaxBatch)
	var backlog [][]byte
	for _, e := range msgs {
		if e.id <= st.backlogEnd {
			backlog = append(backlog, e.body)
		}
	}
	if len(backlog) > 0 {
		frames = append(frames, jsonArray(backlog))
	}
	for _, e := range msgs[len(backlog):] {
		frames = append(frames, e.body)
	}
	if len(msgs) > 0 {
		cursor = msgs[len(msgs)-1].id
	}
	return frames, cursor
}

// readWS reads c until the connection fails or closes, recording every data
// frame (text or binary) in the inbox with the upgrade request's header. It
// cancels ctx when it stops, which tells the writing side the connection is
// gone, and closes done last.
func (s *Server) readWS(ctx context.Context, cancel context.CancelFunc, c *websocket.Conn, hdr http.Header, done chan<- struct{}) {
	defer close(done)
	defer cancel()
	c.SetReadLimit(maxSendBody)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		s.recordSend(PathWebSocket, b, "", hdr)
	}
}
