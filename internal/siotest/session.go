package siotest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// out is one packet waiting to go to the client: text, or a binary
// message.
type out struct {
	text string
	bin  []byte
}

// session is one Engine.IO session. Fields marked (mu) are guarded by the
// server's mu.
type session struct {
	srv *Server
	sid string

	mode      string             // (mu) "polling" or "websocket"
	queue     []out              // (mu)
	sockets   map[string]*socket // (mu) by namespace
	getting   bool               // (mu) a GET is pending
	posting   bool               // (mu)
	upgrading bool               // (mu) probed, waiting for the upgrade packet
	upgraded  bool               // (mu)
	ws        *websocket.Conn    // (mu)
	abrupt    bool               // (mu) closed as by a network failure
	header    http.Header        // the handshake's

	wake      chan struct{} // the queue changed
	pong      chan struct{}
	done      chan struct{} // closed with the session
	closeOnce sync.Once
}

// socket is one namespace connection.
type socket struct {
	id, pid string
}

// push queues a packet; it runs with mu held.
func (ss *session) push(o out) {
	ss.queue = append(ss.queue, o)
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// close ends the session; persist saves its sockets for recovery.
func (ss *session) close(reason string, persist bool) {
	ss.closeOnce.Do(func() {
		s := ss.srv
		s.mu.Lock()
		delete(s.sessions, ss.sid)
		if reason == "transport error" {
			ss.abrupt = true
		}
		if persist && s.opts.Recovery {
			for nsp, sk := range ss.sockets {
				s.saved[sk.pid] = saved{sid: sk.id, nsp: nsp, at: time.Now()}
			}
		}
		clear(ss.sockets)
		ws := ss.ws
		s.touch()
		s.mu.Unlock()
		close(ss.done)
		if ws != nil {
			_ = ws.CloseNow()
		}
	})
}

// pingLoop pings every PingInterval and closes the session when a pong is
// late, as a v4 server does.
func (ss *session) pingLoop() {
	s := ss.srv
	defer s.wg.Done()
	for {
		t := time.NewTimer(s.opts.PingInterval)
		select {
		case <-t.C:
		case <-ss.done:
			t.Stop()
			return
		}
		s.mu.Lock()
		if s.noPings {
			s.mu.Unlock()
			continue
		}
		select {
		case <-ss.pong:
		default:
		}
		ss.push(out{text: "2"})
		s.stats.Pings++
		s.stats.LastPing = time.Now()
		s.touch()
		s.mu.Unlock()
		t = time.NewTimer(s.opts.PingTimeout)
		select {
		case <-ss.pong:
			t.Stop()
		case <-t.C:
			ss.close("ping timeout", true)
			return
		case <-ss.done:
			t.Stop()
			return
		}
	}
}

// writePayload answers a poll with packets joined by the record separator.
func writePayload(w http.ResponseWriter, pkts []string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, strings.Join(pkts, "\x1e"))
}

// encodeForPolling gives a queued packet its polling form.
func encodeForPolling(o out) string {
	if o.bin != nil {
		return "b" + base64.StdEncoding.EncodeToString(o.bin)
	}
	return o.text
}

func (ss *session) serveGet(w http.ResponseWriter, r *http.Request) {
	s := ss.srv
	s.mu.Lock()
	if ss.mode != "polling" {
		s.mu.Unlock()
		engineError(w, 3, "Bad request")
		return
	}
	if ss.getting {
		s.stats.Overlaps++
		s.mu.Unlock()
		ss.close("transport error", true)
		engineError(w, 3, "Bad request")
		return
	}
	ss.getting = true
	s.stats.Polls++
	s.touch()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		ss.getting = false
		s.touch()
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		switch {
		case len(ss.queue) > 0:
			var pkts []string
			for _, o := range ss.queue {
				pkts = append(pkts, encodeForPolling(o))
			}
			ss.queue = nil
			s.mu.Unlock()
			writePayload(w, pkts)
			return
		case ss.upgrading:
			s.mu.Unlock()
			writePayload(w, []string{"6"})
			return
		}
		s.mu.Unlock()
		select {
		case <-ss.wake:
		case <-ss.done:
			s.mu.Lock()
			abrupt := ss.abrupt
			s.mu.Unlock()
			if abrupt {
				panic(http.ErrAbortHandler) // the connection breaks off
			}
			writePayload(w, []string{"1"})
			return
		case <-r.Context().Done():
			ss.close("transport error", true) // "poll connection closed prematurely"
			return
		}
	}
}

func (ss *session) servePost(w http.ResponseWriter, r *http.Request) {
	s := ss.srv
	s.mu.Lock()
	if ss.posting {
		s.stats.Overlaps++
		s.mu.Unlock()
		ss.close("transport error", true)
		engineError(w, 3, "Bad request")
		return
	}
	ss.posting = true
	s.stats.Posts++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		ss.posting = false
		s.mu.Unlock()
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.MaxPayload)+1))
	if err != nil || len(body) > s.opts.MaxPayload {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		ss.close("transport error", true)
		return
	}
	for _, rec := range bytes.Split(body, []byte{0x1e}) {
		if len(rec) > 0 && rec[0] == 'b' {
			continue // binary from clients is not used by the tests
		}
		ss.handle(string(rec))
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// handle takes one text packet from the client.
func (ss *session) handle(p string) {
	if p == "" {
		return
	}
	s := ss.srv
	switch p[0] {
	case '1':
		s.mu.Lock()
		s.stats.EngineCloses++
		s.mu.Unlock()
		ss.close("transport close", true)
	case '2':
		ss.close("invalid heartbeat direction", true)
	case '3':
		s.mu.Lock()
		s.stats.Pongs++
		s.touch()
		s.mu.Unlock()
		select {
		case ss.pong <- struct{}{}:
		default:
		}
	case '4':
		ss.socketIO(p[1:])
	}
}

// socketIO takes one Socket.IO packet from the client.
func (ss *session) socketIO(p string) {
	s := ss.srv
	if p == "" {
		return
	}
	typ, rest := p[0], p[1:]
	nsp := "/"
	if strings.HasPrefix(rest, "/") {
		if i := strings.IndexByte(rest, ','); i >= 0 {
			nsp, rest = rest[:i], rest[i+1:]
		} else {
			nsp, rest = rest, ""
		}
	}
	ack := ""
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		ack, rest = ack+rest[:1], rest[1:]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.touch()
	switch typ {
	case '0':
		ss.connect(nsp, rest)
	case '1':
		if _, ok := ss.sockets[nsp]; ok {
			delete(ss.sockets, nsp)
			s.stats.Disconnects++
		}
	case '2':
		var args []json.RawMessage
		if json.Unmarshal([]byte(rest), &args) != nil || len(args) == 0 {
			return
		}
		var name string
		_ = json.Unmarshal(args[0], &name)
		rem, _ := json.Marshal(args[1:])
		s.stats.Received = append(s.stats.Received, Received{Namespace: nsp, Event: name, Args: rem})
	case '3':
		s.stats.Acks = append(s.stats.Acks, sioPrefix('3', nsp)+ack+rest)
	}
}

// connect answers a CONNECT; it runs with mu held.
func (ss *session) connect(nsp, payload string) {
	s := ss.srv
	if !s.serves(nsp) {
		s.stats.Refused++
		ss.push(out{text: "4" + sioPrefix('4', nsp) + `{"message":"Invalid namespace"}`})
		return
	}
	var auth map[string]any
	if payload != "" {
		_ = json.Unmarshal([]byte(payload), &auth)
	}
	pid, _ := auth["pid"].(string)
	offset, _ := auth["offset"].(string)
	if s.opts.Recovery && pid != "" && offset != "" {
		if sv, ok := s.saved[pid]; ok && sv.nsp == nsp && time.Since(sv.at) < s.opts.MaxDisconnection {
			log := s.logs[nsp]
			at := -1
			for i, st := range log {
				if st.offset == offset {
					at = i
					break
				}
			}
			if at >= 0 {
				delete(s.saved, pid)
				for _, st := range log[at+1:] {
					ss.push(out{text: "4" + st.packet})
				}
				ss.sockets[nsp] = &socket{id: sv.sid, pid: pid}
				s.stats.Connects++
				s.stats.Recovered++
				ss.push(out{text: "4" + sioPrefix('0', nsp) + answer(sv.sid, pid)})
				return
			}
		}
	}
	delete(auth, "pid")
	delete(auth, "offset")
	if s.opts.Auth != nil {
		if msg := s.opts.Auth(nsp, auth, ss.header); msg != "" {
			s.stats.Refused++
			b, _ := json.Marshal(map[string]string{"message": msg})
			ss.push(out{text: "4" + sioPrefix('4', nsp) + string(b)})
			return
		}
	}
	s.nextID++
	sk := &socket{id: "s" + strconv.Itoa(s.nextID)}
	if s.opts.Recovery {
		sk.pid = "p" + strconv.Itoa(s.nextID)
	}
	ss.sockets[nsp] = sk
	s.stats.Connects++
	ss.push(out{text: "4" + sioPrefix('0', nsp) + answer(sk.id, sk.pid)})
}

func answer(sid, pid string) string {
	m := map[string]string{"sid": sid}
	if pid != "" {
		m["pid"] = pid
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// serveWebSocket serves a WebSocket-only session (no sid) or an upgrade.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	block := s.blockWS
	if block {
		s.stats.BlockedUpgrades++
		s.touch()
	}
	s.mu.Unlock()
	if block {
		http.Error(w, "upgrades are not allowed here", http.StatusForbidden)
		return
	}
	var ss *session
	if sid != "" {
		if ss = s.session(w, r, sid); ss == nil {
			return
		}
		s.mu.Lock()
		bad := ss.mode != "polling" || ss.upgrading || ss.upgraded
		s.mu.Unlock()
		if bad {
			http.Error(w, "Bad request", http.StatusBadRequest)
			return
		}
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := context.Background()
	if ss == nil {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		ss = s.open("websocket")
		ss.header = r.Header.Clone()
		ss.ws = conn
		ss.push(out{text: s.openPacket(ss)})
		s.mu.Unlock()
	} else if !ss.upgrade(ctx, conn) {
		return
	}
	ss.serveFrames(ctx, conn)
}

// upgrade runs the probe and the switch on conn.
func (ss *session) upgrade(ctx context.Context, conn *websocket.Conn) bool {
	s := ss.srv
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil || string(b) != "2probe" {
		return false
	}
	if conn.Write(ctx, websocket.MessageText, []byte("3probe")) != nil {
		return false
	}
	s.mu.Lock()
	ss.upgrading = true
	s.stats.Probes++
	select {
	case ss.wake <- struct{}{}: // the pending GET answers a noop
	default:
	}
	s.touch()
	s.mu.Unlock()
	_, b, err = conn.Read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.upgrading = false
	if err != nil || string(b) != "5" {
		return false
	}
	if ss.getting || ss.posting {
		s.stats.Overlaps++ // the client did not pause polling
	}
	ss.mode, ss.ws, ss.upgraded = "websocket", conn, true
	s.stats.Upgrades++
	s.touch()
	select {
	case <-ss.done:
		return false
	default:
	}
	select {
	case ss.wake <- struct{}{}:
	default:
	}
	return true
}

// serveFrames runs a session on conn: a writer goroutine, this one reading.
func (ss *session) serveFrames(ctx context.Context, conn *websocket.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ss.srv.mu.Lock()
			q := ss.queue
			ss.queue = nil
			ss.srv.mu.Unlock()
			for _, o := range q {
				var err error
				if o.bin != nil {
					err = conn.Write(ctx, websocket.MessageBinary, o.bin)
				} else {
					err = conn.Write(ctx, websocket.MessageText, []byte(o.text))
				}
				if err != nil {
					ss.close("transport error", true)
					return
				}
			}
			select {
			case <-ss.wake:
			case <-ss.done:
				return
			}
		}
	}()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			ss.close("transport close", true)
			break
		}
		if typ == websocket.MessageText {
			ss.handle(string(b))
		}
	}
	_ = conn.CloseNow()
	wg.Wait()
}
