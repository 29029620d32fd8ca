package socketio

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
)

// reopen drops every connection of srv, checks that st ends transiently,
// and opens tr again from cursor with sess.
func reopen(t *testing.T, srv *siotest.Server, st transport.Stream, tr *Transport, sess *transport.Session, cursor string) transport.Stream {
	t.Helper()
	ctx := testCtx(t)
	srv.Drop()
	if _, err := st.Next(ctx); classOf(t, err) != transport.Transient {
		t.Fatalf("after a drop: %v", err)
	}
	_ = st.Close()
	return open(t, ctx, tr, transport.Request{Session: sess, Cursor: cursor})
}

func TestRecovery(t *testing.T) {
	for _, carrier := range []string{"polling", "websocket"} {
		t.Run(carrier, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t, siotest.Options{Recovery: true})
			tr := &Transport{URL: srv.URL() + "/feed", Transports: []string{carrier}}
			sess := &transport.Session{}
			st := open(t, ctx, tr, transport.Request{Session: sess})
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
			srv.Emit("/feed", "n", 1)
			srv.Emit("/feed", "n", 2)
			wantMsg(t, next(t, ctx, st), "o1", "n", `[1]`)
			wantMsg(t, next(t, ctx, st), "o2", "n", `[2]`)
			srv.Drop()
			srv.Emit("/feed", "n", 3) // missed while disconnected
			srv.Emit("/feed", "n", 4)

			st = reopen(t, srv, st, tr, sess, "o2")
			wantMsg(t, next(t, ctx, st), "o3", "n", `[3]`)
			wantMsg(t, next(t, ctx, st), "o4", "n", `[4]`)
			srv.Emit("/feed", "n", 5)
			wantMsg(t, next(t, ctx, st), "o5", "n", `[5]`)
			if s := srv.Stats(); s.Recovered != 1 || s.Connects != 2 {
				t.Fatalf("recovered %d of %d connects", s.Recovered, s.Connects)
			}
		})
	}
}

func TestRecovery_gaps(t *testing.T) {
	t.Run("session forgotten", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newServer(t, siotest.Options{Recovery: true})
		tr := &Transport{URL: srv.URL()}
		sess := &transport.Session{}
		st := open(t, ctx, tr, transport.Request{Session: sess})
		waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
		srv.Emit("/", "n", 1)
		wantMsg(t, next(t, ctx, st), "o1", "n", `[1]`)
		srv.Drop()
		srv.Forget() // a restart
		srv.Emit("/", "n", 2)
		st = reopen(t, srv, st, tr, sess, "o1")
		if m := next(t, ctx, st); !m.Gap {
			t.Fatalf("first message %+v, want a gap", m)
		}
		srv.Emit("/", "n", 3)
		wantMsg(t, next(t, ctx, st), "o3", "n", `[3]`)
		// The next drop recovers again with the new session.
		srv.Emit("/", "n", 4)
		wantMsg(t, next(t, ctx, st), "o4", "n", `[4]`)
		st = reopen(t, srv, st, tr, sess, "o4")
		srv.Emit("/", "n", 5)
		wantMsg(t, next(t, ctx, st), "o5", "n", `[5]`)
		if s := srv.Stats(); s.Recovered != 1 || s.Connects != 3 {
			t.Fatalf("recovered %d of %d connects", s.Recovered, s.Connects)
		}
	})
	t.Run("no recovery on the server", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newServer(t, siotest.Options{})
		tr := &Transport{URL: srv.URL()}
		sess := &transport.Session{}
		st := open(t, ctx, tr, transport.Request{Session: sess})
		waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
		srv.Emit("/", "n", 1)
		wantMsg(t, next(t, ctx, st), "", "n", `[1]`)
		for range 2 { // a gap at every reconnection
			st = reopen(t, srv, st, tr, sess, "")
			if m := next(t, ctx, st); !m.Gap {
				t.Fatalf("first message %+v, want a gap", m)
			}
		}
	})
	t.Run("cursor without a session", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newServer(t, siotest.Options{Recovery: true})
		st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Cursor: "o9", Session: &transport.Session{}})
		if m := next(t, ctx, st); !m.Gap {
			t.Fatalf("first message %+v, want a gap", m)
		}
	})
	t.Run("a fresh start is no gap", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newServer(t, siotest.Options{Recovery: true})
		st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Session: &transport.Session{}})
		waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
		srv.Emit("/", "n", 1)
		wantMsg(t, next(t, ctx, st), "o1", "n", `[1]`)
	})
}

// Subscriptions sharing one Transport keep their sessions apart.
func TestRecovery_sharedTransport(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{Recovery: true})
	tr := &Transport{URL: srv.URL(), Transports: []string{"websocket"}}
	sessA, sessB := &transport.Session{}, &transport.Session{}
	a := open(t, ctx, tr, transport.Request{Session: sessA})
	b := open(t, ctx, tr, transport.Request{Session: sessB})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 2 })
	srv.Emit("/", "n", 1)
	wantMsg(t, next(t, ctx, a), "o1", "n", `[1]`)
	wantMsg(t, next(t, ctx, b), "o1", "n", `[1]`)
	before := srv.Stats().SocketIDs
	srv.Drop()
	srv.Emit("/", "n", 2)
	for _, p := range []struct {
		st   *transport.Stream
		sess *transport.Session
	}{{&a, sessA}, {&b, sessB}} {
		if _, err := (*p.st).Next(ctx); classOf(t, err) != transport.Transient {
			t.Fatalf("after a drop: %v", err)
		}
		_ = (*p.st).Close()
		*p.st = open(t, ctx, tr, transport.Request{Session: p.sess, Cursor: "o1"})
	}
	wantMsg(t, next(t, ctx, a), "o2", "n", `[2]`)
	wantMsg(t, next(t, ctx, b), "o2", "n", `[2]`)
	after := srv.Stats().SocketIDs
	if s := srv.Stats(); s.Recovered != 2 || len(before) != 2 || !sameSet(before, after) {
		t.Fatalf("recovered %d; sockets %v then %v", s.Recovered, before, after)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// scripted is a polling-only engine whose answers to the CONNECT a test
// writes: after the handshake, the GETs get the packets of answer, and
// then wait for the end.
type scripted struct {
	*httptest.Server
	mu       sync.Mutex
	connects []string // the CONNECT packets received
	answer   string   // the payload of the GET after the CONNECT
	sent     bool
	arrived  chan struct{} // closed at the first CONNECT
	done     chan struct{}
}

func newScripted(t *testing.T, answer string) *scripted {
	s := &scripted{answer: answer, arrived: make(chan struct{}), done: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.done)
		s.Close()
	})
	return s
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("sid") == "":
		io.WriteString(w, `0{"sid":"S","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	case r.Method == http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		for _, p := range strings.Split(string(b), "\x1e") {
			if strings.HasPrefix(p, "40") {
				if len(s.connects) == 0 {
					close(s.arrived)
				}
				s.connects = append(s.connects, p)
			}
		}
		s.mu.Unlock()
		io.WriteString(w, "ok")
	default:
		select {
		case <-s.arrived:
		case <-s.done:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		send := len(s.connects) > 0 && !s.sent
		s.sent = s.sent || send
		s.mu.Unlock()
		if send {
			io.WriteString(w, s.answer)
			return
		}
		select {
		case <-s.done:
		case <-r.Context().Done():
		}
		io.WriteString(w, "6")
	}
}

// sessionWithPID returns a Session whose state already holds pid, as
// after an earlier connection.
func sessionWithPID(srv *scripted, nsp, pid string) *transport.Session {
	sess := &transport.Session{}
	tg, _ := (&Transport{URL: srv.URL + nsp}).target(nil)
	st := stateOf(sess, sessionKey{nsp: tg.nsp, url: tg.base.Scheme + "://" + tg.base.Host + tg.base.Path})
	st.connectedAs(pid)
	return sess
}

func TestRecovery_heldBack(t *testing.T) {
	replay := "42[\"n\",1,\"o5\"]\x1e42[\"n\",2,\"o6\"]"
	t.Run("refused", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newScripted(t, replay+"\x1e"+`44{"message":"expired token","data":{"retry":false}}`)
		_, err := (&Transport{URL: srv.URL}).Open(ctx, transport.Request{Cursor: "o4", Session: sessionWithPID(srv, "", "P")})
		var ce *ConnectError
		if classOf(t, err) != transport.Permanent || !errors.As(err, &ce) || ce.Message != "expired token" || string(ce.Data) != `{"retry":false}` {
			t.Fatalf("err %v", err)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.connects) != 1 || srv.connects[0] != `40{"offset":"o4","pid":"P"}` {
			t.Fatalf("connects %q", srv.connects)
		}
	})
	t.Run("recovered", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newScripted(t, replay+"\x1e"+`40{"sid":"x","pid":"P"}`+"\x1e"+`42["n",3,"o7"]`)
		st := open(t, ctx, &Transport{URL: srv.URL}, transport.Request{Cursor: "o4", Session: sessionWithPID(srv, "", "P")})
		wantMsg(t, next(t, ctx, st), "o5", "n", `[1]`)
		wantMsg(t, next(t, ctx, st), "o6", "n", `[2]`)
		wantMsg(t, next(t, ctx, st), "o7", "n", `[3]`)
	})
	t.Run("another pid", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newScripted(t, replay+"\x1e"+`40{"sid":"x","pid":"Q"}`+"\x1e"+`42["n",3,"o7"]`)
		st := open(t, ctx, &Transport{URL: srv.URL}, transport.Request{Cursor: "o4", Session: sessionWithPID(srv, "", "P")})
		if m := next(t, ctx, st); !m.Gap {
			t.Fatalf("first message %+v, want a gap", m)
		}
		wantMsg(t, next(t, ctx, st), "o7", "n", `[3]`)
	})
	t.Run("too much to hold", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newScripted(t, replay+"\x1e"+`40{"sid":"x","pid":"P"}`+"\x1e"+`42["n",3,"o7"]`)
		st := open(t, ctx, &Transport{URL: srv.URL, MaxReplaySize: 100}, transport.Request{Cursor: "o4", Session: sessionWithPID(srv, "", "P")})
		if m := next(t, ctx, st); !m.Gap {
			t.Fatalf("first message %+v, want a gap", m)
		}
		wantMsg(t, next(t, ctx, st), "o7", "n", `[3]`)
	})
	t.Run("auth with the session", func(t *testing.T) {
		ctx := testCtx(t)
		srv := newScripted(t, `40/chat,{"sid":"x","pid":"P"}`)
		open(t, ctx, &Transport{URL: srv.URL + "/chat", Auth: []byte(`{"token":"t","pid":"mine"}`)},
			transport.Request{Cursor: "o4", Session: sessionWithPID(srv, "/chat", "P")})
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.connects) != 1 || srv.connects[0] != `40/chat,{"offset":"o4","pid":"P","token":"t"}` {
			t.Fatalf("connects %q", srv.connects)
		}
	})
}

// lossyTransport forwards requests, and can lose the answer to the next
// poll of a session (the server wrote it; the client never gets it, as
// when the network breaks the connection after the server has finished),
// and then fail every request (the network down).
type lossyTransport struct {
	base     *http.Transport
	lose     atomic.Bool // lose the next poll's answer
	thenDown bool        // and after it, fail everything until down is cleared
	down     atomic.Bool
}

var errLinkDown = errors.New("connection reset by the test")

func (l *lossyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if l.down.Load() {
		return nil, errLinkDown
	}
	resp, err := l.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodGet && r.URL.Query().Get("sid") != "" && l.lose.CompareAndSwap(true, false) {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if l.thenDown {
			l.down.Store(true)
		}
		return nil, errLinkDown
	}
	return resp, nil
}

// A poll whose answer the network lost leaves the server holding the
// session, unaware: the stream tells it with the close packet, at its
// Close or, when the network is still down then, before the next
// handshake, so that the server saves the namespace state and the
// reconnection recovers it instead of starting a new session with a gap.
func TestRecovery_lostPoll(t *testing.T) {
	for _, when := range []string{"at close", "at the next attempt"} {
		t.Run(when, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t, siotest.Options{Recovery: true})
			lt := &lossyTransport{base: http.DefaultTransport.(*http.Transport).Clone(), thenDown: when != "at close"}
			t.Cleanup(lt.base.CloseIdleConnections)
			hc := &http.Client{Transport: lt}
			tr := &Transport{URL: srv.URL() + "/feed", Transports: []string{"polling"}}
			sess := &transport.Session{}
			st := open(t, ctx, tr, transport.Request{Session: sess, HTTPClient: hc})
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
			srv.Emit("/feed", "n", 1)
			wantMsg(t, next(t, ctx, st), "o1", "n", `[1]`)

			lt.lose.Store(true)
			srv.Emit("/feed", "n", 2) // its answer is lost
			if _, err := st.Next(ctx); classOf(t, err) != transport.Transient {
				t.Fatalf("after a lost poll: %v", err)
			}
			_ = st.Close()
			closes := 1
			if lt.thenDown {
				closes = 0 // the goodbye was lost too
			}
			if s := srv.Stats(); s.EngineCloses != closes || s.OpenSessions != 1-closes {
				t.Fatalf("after Close: %d close packets, %d sessions open; want %d, %d", s.EngineCloses, s.OpenSessions, closes, 1-closes)
			}
			lt.down.Store(false)
			srv.Emit("/feed", "n", 3)

			st = open(t, ctx, tr, transport.Request{Session: sess, HTTPClient: hc, Cursor: "o1"})
			wantMsg(t, next(t, ctx, st), "o2", "n", `[2]`)
			wantMsg(t, next(t, ctx, st), "o3", "n", `[3]`)
			if s := srv.Stats(); s.Recovered != 1 || s.Connects != 2 || s.EngineCloses != 1 {
				t.Fatalf("recovered %d of %d connects, %d close packets", s.Recovered, s.Connects, s.EngineCloses)
			}
		})
	}
}
