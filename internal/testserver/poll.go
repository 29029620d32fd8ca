package testserver

import (
	"net/http"
	"time"
)

// malformedBody is the answer InjectMalformed arms on /long and /poll.
var malformedBody = []byte("<html>oops</html>")

// servePoll answers at once with the messages after the cursor.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, a admission) {
	s.answerPoll(w, r, a, PathPoll, false)
}

// serveLongPoll answers like servePoll, but holds the request while there is
// nothing to send, until a publish, an injection or LongPollHold.
func (s *Server) serveLongPoll(w http.ResponseWriter, r *http.Request, a admission) {
	s.answerPoll(w, r, a, PathLongPoll, true)
}

// answerPoll serves one poll or long-poll request. A request cut by DropAll,
// abandoned by its client or caught by Close returns without an answer.
func (s *Server) answerPoll(w http.ResponseWriter, r *http.Request, a admission, path string, long bool) {
	st := s.register(path, a.conn)
	defer s.unregister(st)
	if a.stall {
		s.park(r.Context(), st)
		return
	}

	var hold <-chan time.Time
	expired := false
	for {
		s.mu.Lock()
		if s.takeMalformedLocked(path) {
			s.mu.Unlock()
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(malformedBody)
			return
		}
		var objs [][]byte
		if d := s.takeOversizedLocked(path); d != nil {
			objs = append(objs, encodeMessage("", "", d))
		}
		for _, e := range s.log.after(a.cursor, s.opts.MaxBatch) {
			objs = append(objs, e.body)
		}
		wake := s.changed
		s.mu.Unlock()

		if len(objs) > 0 || !long || expired {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(jsonArray(objs))
			return
		}
		if hold == nil {
			t := time.NewTimer(s.opts.LongPollHold)
			defer t.Stop()
			hold = t.C
		}
		select {
		case <-wake:
		case <-hold:
			expired = true
		case <-r.Context().Done():
			return
		case <-st.kill:
			return
		case <-s.done:
			return
		}
	}
}
