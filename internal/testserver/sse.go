package testserver

import (
	"net/http"
	"strconv"
	"time"
)

// maxHeld bounds the bytes BufferSSE holds back per stream; past it the
// held bytes are flushed, as a proxy with a full buffer would.
const maxHeld = 1 << 20

// Fixed pieces of the event stream.
var (
	sseKeepAlive = []byte(": keep-alive\n\n")
	sseGarbage   = []byte("this line is not an sse field\n\n")
)

// serveSSE streams the log as text/event-stream from the cursor on.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, a admission) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	st := s.register(PathSSE, a.conn)
	defer s.unregister(st)
	if a.stall {
		s.park(r.Context(), st)
		return
	}

	var tick <-chan time.Time
	if ka := s.opts.KeepAlive; ka > 0 {
		t := time.NewTicker(ka)
		defer t.Stop()
		tick = t.C
	}
	out := sseOut{w: w, rc: rc}
	var buf []byte
	s.mu.Lock()
	if d := s.faults.sseRetry; d > 0 {
		buf = strconv.AppendInt(append(buf, "retry: "...), d.Milliseconds(), 10)
		buf = append(buf, "\n\n"...)
	}
	s.mu.Unlock()

	cursor := a.cursor
	for {
		s.mu.Lock()
		var more bool
		buf, cursor, more = s.sseEventsLocked(buf, cursor)
		buffered, wake := s.faults.sseBuffer, s.changed
		s.mu.Unlock()

		err := out.emit(buf, buffered)
		s.mu.Lock()
		st.sseReleased = out.released
		if st.sseHeld != len(out.held) {
			// Tests wait for held bytes. The wake taken above fires once
			// more because of this; the next pass finds nothing to do.
			st.sseHeld = len(out.held)
			s.notifyLocked()
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
		buf = buf[:0]
		if more {
			continue
		}
		select {
		case <-wake:
		case <-tick:
			buf = append(buf, sseKeepAlive...)
		case <-r.Context().Done():
			return
		case <-st.kill:
			return
		case <-s.done:
			return
		}
	}
}

// sseEventsLocked appends to buf the events owed after cursor: pending
// injections, then at most MaxBatch messages. It returns the new cursor and
// whether more messages are waiting. s.mu must be held.
func (s *Server) sseEventsLocked(buf []byte, cursor uint64) ([]byte, uint64, bool) {
	if d := s.takeOversizedLocked(PathSSE); d != nil {
		buf = append(buf, "data: "...)
		buf = append(buf, d...)
		buf = append(buf, "\n\n"...)
	}
	if s.takeMalformedLocked(PathSSE) {
		buf = append(buf, sseGarbage...)
	}
	msgs := s.log.after(cursor, s.opts.MaxBatch)
	for _, e := range msgs {
		buf = strconv.AppendUint(append(buf, "id: "...), e.id, 10)
		buf = append(buf, '\n')
		if e.event != "" {
			buf = append(buf, "event: "...)
			buf = append(buf, e.event...)
			buf = append(buf, '\n')
		}
		buf = append(buf, "data: "...)
		buf = append(buf, e.data...)
		buf = append(buf, "\n\n"...)
	}
	if len(msgs) > 0 {
		cursor = msgs[len(msgs)-1].id
	}
	return buf, cursor, len(msgs) == s.opts.MaxBatch
}

// sseOut writes an event stream, or holds it back while buffering is on.
type sseOut struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	held     []byte
	released int // bytes written to the client after the headers
}

// emit sends p, or adds it to the held bytes when buffered. Turning buffering
// off, or holding more than maxHeld, sends what was held first.
func (o *sseOut) emit(p []byte, buffered bool) error {
	if buffered {
		o.held = append(o.held, p...)
		if len(o.held) <= maxHeld {
			return nil
		}
	} else if len(p) > 0 || len(o.held) > 0 {
		o.held = append(o.held, p...)
	} else {
		return nil
	}
	n, err := o.w.Write(o.held)
	o.released += n
	o.held = o.held[:0]
	if err != nil {
		return err
	}
	return o.rc.Flush()
}
