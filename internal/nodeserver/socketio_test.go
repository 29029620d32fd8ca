//go:build interop

package nodeserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
	"github.com/anysub/anysub/transport/socketio"
)

// The tests in this file follow a real socket.io 4.8 server (socketio.js)
// with the Socket.IO transport, through the client or on its own.

// Events of the default and of a custom namespace, with and without
// connection state recovery, before and after a dropped connection.
func TestSocketIO_events(t *testing.T) {
	for _, recovery := range []bool{true, false} {
		for _, nsp := range []string{"/", "/chat"} {
			name := "recovery off"
			if recovery {
				name = "recovery on"
			}
			t.Run(name+" "+nsp, func(t *testing.T) {
				ctx := sioCtx(t, 30*time.Second)
				srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: recovery})
				url := srv.URL()
				if nsp != "/" {
					url += nsp
				}
				sub := subscribe(t, sioConfig(&socketio.Transport{URL: url}))
				evs := follow(t, sub)
				evs.wait(t, ctx, 1, kind(client.EventConnected))
				if nsp != "/" {
					emit(t, ctx, srv, "/", "elsewhere") // another namespace: not delivered
				}
				emit(t, ctx, srv, nsp, "price", map[string]any{"p": 1}, "EUR")
				emit(t, ctx, srv, nsp, "tick")
				got := receive(t, ctx, sub, 2)
				if got[0].Event != "price" || string(got[0].Data) != `[{"p":1},"EUR"]` || got[1].Event != "tick" || string(got[1].Data) != `[]` {
					t.Fatalf("messages %+v", got)
				}
				for _, m := range got {
					if recovery == (m.ID == "") || m.Transport != socketio.Name {
						t.Fatalf("message %+v: id with recovery %v", m, recovery)
					}
				}
				if _, err := srv.Drop(ctx); err != nil {
					t.Fatal(err)
				}
				if recovery {
					// Emitted while the client may be away: recovered.
					emit(t, ctx, srv, nsp, "n", 1)
					emit(t, ctx, srv, nsp, "n", 2)
				} else {
					// Without recovery the reconnection is a gap.
					evs.wait(t, ctx, 1, kind(client.EventGap))
					evs.wait(t, ctx, 2, kind(client.EventConnected))
					emit(t, ctx, srv, nsp, "n", 1)
					emit(t, ctx, srv, nsp, "n", 2)
				}
				after := receive(t, ctx, sub, 2)
				if string(after[0].Data) != "[1]" || string(after[1].Data) != "[2]" {
					t.Fatalf("after the drop: %+v", after)
				}
				st := sub.Stats()
				if recovery && st.Gaps != 0 || !recovery && st.Gaps != 1 {
					t.Fatalf("gaps %d with recovery %v", st.Gaps, recovery)
				}
				if recovery {
					srvStats := waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return s.Connects >= 2 })
					if srvStats.Recovered < 1 {
						t.Fatalf("server recovered %d sessions", srvStats.Recovered)
					}
				}
			})
		}
	}
}

// The upgrade from polling to WebSocket, against the real server: probe,
// pause, upgrade, and the session carries on without a break; Close keeps
// the namespace state, unless the subscription has ended.
func TestSocketIO_upgrade(t *testing.T) {
	ctx := sioCtx(t, 30*time.Second)
	srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
	var mu sync.Mutex
	var changes []string
	upgraded := make(chan struct{})
	done := make(chan struct{})
	sess := &transport.Session{Done: done, Carrier: func(from, to string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, from+">"+to)
		if to == socketio.WebSocket {
			close(upgraded)
		}
	}}
	tr := &socketio.Transport{URL: srv.URL() + "/chat"}
	st, err := tr.Open(ctx, transport.Request{Session: sess})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Events stream while the session upgrades.
	if err := srv.Stream(ctx, "/chat", "n", 500, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		m, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var args []struct{ N int }
		if err := json.Unmarshal(m.Data, &args); err != nil || len(args) != 1 || args[0].N != i || m.ID == "" {
			t.Fatalf("message %d: %s %s", i, m.ID, m.Data)
		}
	}
	select {
	case <-upgraded:
	case <-ctx.Done():
		t.Fatal("never upgraded")
	}
	emit(t, ctx, srv, "/chat", "after")
	if m, err := st.Next(ctx); err != nil || m.Event != "after" {
		t.Fatalf("after the upgrade: %+v %v", m, err)
	}
	s := waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return s.Upgrades == 1 })
	if len(s.EngineCloses) != 0 || s.Handshakes["polling"] != 1 || s.Open != 1 {
		t.Fatalf("server: %+v", s)
	}
	mu.Lock()
	if !slices.Equal(changes, []string{">polling", "polling>websocket"}) {
		t.Fatalf("carriers %q", changes)
	}
	mu.Unlock()
	// The subscription's end: the namespace is left for good.
	close(done)
	_ = st.Close()
	s = waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return len(s.Disconnects) == 1 && len(s.EngineCloses) == 1 })
	if s.Disconnects[0].Reason != "client namespace disconnect" || s.Disconnects[0].Nsp != "/chat" {
		t.Fatalf("disconnects %+v", s.Disconnects)
	}
}

// An attempt's Close, or a dropped connection, leaves the namespace in a
// state the server can recover.
func TestSocketIO_closeKeepsState(t *testing.T) {
	for _, carriers := range [][]string{{"polling"}, {"websocket"}} {
		t.Run(carriers[0], func(t *testing.T) {
			ctx := sioCtx(t, 30*time.Second)
			srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
			st, err := (&socketio.Transport{URL: srv.URL(), Transports: carriers}).Open(ctx, transport.Request{Session: &transport.Session{}})
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
			s := waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return len(s.Disconnects) == 1 })
			if s.Disconnects[0].Reason != "transport close" {
				t.Fatalf("disconnect %+v", s.Disconnects)
			}
		})
	}
}

// A server with polling only, and one that allows no upgrades: the session
// stays on polling. A client that wants WebSocket only is told the
// transport is not supported.
func TestSocketIO_pollingOnly(t *testing.T) {
	for _, opts := range []nodeserver.SocketIOOptions{{Transports: "polling"}, {NoUpgrades: true}} {
		name := "polling-only server"
		if opts.NoUpgrades {
			name = "allowUpgrades false"
		}
		t.Run(name, func(t *testing.T) {
			ctx := sioCtx(t, 30*time.Second)
			srv := startSIO(t, opts)
			sub := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL(), UpgradeRetry: 50 * time.Millisecond}))
			evs := follow(t, sub)
			evs.wait(t, ctx, 1, carrier("", "polling"))
			for i := range 3 {
				emit(t, ctx, srv, "/", "n", i)
			}
			got := receive(t, ctx, sub, 3)
			if string(got[2].Data) != "[2]" {
				t.Fatalf("messages %+v", got)
			}
			if s, _ := srv.Stats(ctx); s.Upgrades != 0 || evs.count(carrier("polling", "websocket")) != 0 {
				t.Fatalf("upgraded: %+v", s)
			}
			if opts.NoUpgrades {
				return
			}
			wsOnly := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL(), Transports: []string{"websocket"}}))
			_, err := wsOnly.Next(ctx)
			var ue *client.UnsupportedError
			var ee *socketio.EngineError
			if !errors.As(err, &ue) || !errors.As(err, &ee) || ee.Message != "Transport unknown" {
				t.Fatalf("websocket only: %v", err)
			}
		})
	}
}

// A proxy that refuses WebSocket keeps the session on polling; once it
// lets WebSocket through, the session upgrades in place.
func TestSocketIO_blockedUpgrade(t *testing.T) {
	ctx := sioCtx(t, 30*time.Second)
	srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
	proxy := newWSProxy(t, srv.URL())
	proxy.blocked.Store(true)
	sub := subscribe(t, sioConfig(&socketio.Transport{URL: proxy.URL, UpgradeRetry: 100 * time.Millisecond}))
	evs := follow(t, sub)
	evs.wait(t, ctx, 1, carrier("", "polling"))
	emit(t, ctx, srv, "/", "n", 1)
	receive(t, ctx, sub, 1)
	for proxy.refused.Load() < 3 {
		emit(t, ctx, srv, "/", "n", 2)
		receive(t, ctx, sub, 1)
	}
	if evs.count(carrier("polling", "websocket")) != 0 {
		t.Fatal("upgraded through a blocking proxy")
	}
	proxy.blocked.Store(false)
	evs.wait(t, ctx, 1, carrier("polling", "websocket"))
	emit(t, ctx, srv, "/", "n", 3)
	if got := receive(t, ctx, sub, 1); string(got[0].Data) != "[3]" {
		t.Fatalf("after the upgrade: %+v", got)
	}
	if st := sub.Stats(); st.Gaps != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Auth middlewares: one that refuses ends the subscription with the
// server's message; one that wants a token lets in the credentials'.
func TestSocketIO_auth(t *testing.T) {
	ctx := sioCtx(t, 30*time.Second)
	refusing := startSIO(t, nodeserver.SocketIOOptions{Auth: "refuse"})
	sub := subscribe(t, sioConfig(&socketio.Transport{URL: refusing.URL() + "/chat"}))
	_, err := sub.Next(ctx)
	var ce *socketio.ConnectError
	if !errors.Is(err, transport.ErrPermanent) || !errors.As(err, &ce) || ce.Message != "Not authorized" ||
		string(ce.Data) != `{"reason":"refused by the test server"}` || ce.Namespace != "/chat" {
		t.Fatalf("refused: %v", err)
	}
	if s, _ := refusing.Stats(ctx); s.Refused != 1 {
		t.Fatalf("refused %d times", s.Refused)
	}

	token := startSIO(t, nodeserver.SocketIOOptions{Auth: "token:tok-4321", Recovery: true})
	creds := func(context.Context, error) (client.Credentials, error) {
		return client.Credentials{Auth: []byte(`{"token":"tok-4321"}`)}, nil
	}
	cfg := sioConfig(&socketio.Transport{URL: token.URL(), Auth: []byte(`{"room":"r","token":"stale"}`)})
	cfg.Credentials = creds
	sub = subscribe(t, cfg)
	evs := follow(t, sub)
	evs.wait(t, ctx, 1, kind(client.EventConnected))
	emit(t, ctx, token, "/", "in")
	receive(t, ctx, sub, 1)
	s, err := token.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Auths) != 1 || string(s.Auths[0]["token"]) != `"tok-4321"` || string(s.Auths[0]["room"]) != `"r"` {
		t.Fatalf("auth seen %v", s.Auths)
	}
}

// After the server forgets the session (a restart, or the recovery window
// over), the reconnection is reported as a gap and nothing comes twice.
func TestSocketIO_forgotten(t *testing.T) {
	for _, how := range []string{"restart", "forget"} {
		t.Run(how, func(t *testing.T) {
			ctx := sioCtx(t, 30*time.Second)
			srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
			sub := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL()}))
			evs := follow(t, sub)
			evs.wait(t, ctx, 1, kind(client.EventConnected))
			for i := range 3 {
				emit(t, ctx, srv, "/", "n", i)
			}
			got := receive(t, ctx, sub, 3)
			switch how {
			case "restart":
				if err := srv.Restart(ctx); err != nil {
					t.Fatal(err)
				}
			case "forget":
				if n, err := srv.Forget(ctx); err != nil || n != 1 {
					t.Fatalf("forgot %d sessions: %v", n, err)
				}
			}
			evs.wait(t, ctx, 1, kind(client.EventGap))
			evs.wait(t, ctx, 2, kind(client.EventConnected))
			for i := 3; i < 6; i++ {
				emit(t, ctx, srv, "/", "n", i)
			}
			got = append(got, receive(t, ctx, sub, 3)...)
			seen := map[string]bool{}
			for i, m := range got {
				if string(m.Data) != "["+strconv.Itoa(i)+"]" || seen[m.ID] {
					t.Fatalf("message %d: %+v (ids so far %v)", i, m, seen)
				}
				seen[m.ID] = true
			}
			if st := sub.Stats(); st.Gaps != 1 || st.Duplicates != 0 {
				t.Fatalf("stats %+v", st)
			}
			var gap client.Event
			for _, e := range evs.snapshot() {
				if e.Kind == client.EventGap {
					gap = e
				}
			}
			if gap.ID != got[2].ID || gap.Transport != socketio.Name {
				t.Fatalf("gap %+v, want after %s", gap, got[2].ID)
			}
		})
	}
}

// Connections cut every 0.5 to 2 s during a stream of 3,000 events, with
// recovery on: every event arrives once, in order, whether the session
// polls, uses WebSocket, or upgrades anew after each reconnection. Each cut
// ends the server's sessions as a failed transport does, and cuts every
// TCP connection.
func TestSocketIO_dropsDuringStream(t *testing.T) {
	for _, carriers := range [][]string{{"polling"}, {"websocket"}, {"polling", "websocket"}} {
		dropsDuringStream(t, carriers, false)
	}
}

// The same with the TCP connections cut and nothing else, so that the
// server learns of a dead session only when it next uses it (or at its
// ping timeout). This is opt-in (ANYSUB_SIO_TCP_CUTS=1): socket.io's
// in-memory adapter lets a pid be recovered while a stale socket of the
// same id lingers on the server, and that socket's cleanup later removes
// the live one from the adapter, which then stays connected but gets no
// broadcast (socket.io issue #4880, "Socket recovery works only once"). A
// client cannot tell such a socket from a quiet one; the run fails about
// once in twenty on a loaded machine.
func TestSocketIO_tcpCutsDuringStream(t *testing.T) {
	if os.Getenv("ANYSUB_SIO_TCP_CUTS") == "" {
		t.Skip("set ANYSUB_SIO_TCP_CUTS=1 to cut TCP connections only (see socket.io issue #4880)")
	}
	for _, carriers := range [][]string{{"polling"}, {"polling", "websocket"}} {
		dropsDuringStream(t, carriers, true)
	}
}

// dropsDuringStream runs one carrier list of the tests above; tcpOnly cuts
// the TCP connections only.
func dropsDuringStream(t *testing.T, carriers []string, tcpOnly bool) {
	const events = 3000
	name := strings.Join(carriers, ",")
	t.Run(name, func(t *testing.T) {
		ctx := sioCtx(t, 2*time.Minute)
		srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
		sub := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL() + "/chat", Transports: carriers}))
		evs := follow(t, sub)
		evs.wait(t, ctx, 1, kind(client.EventConnected))
		if err := srv.Stream(ctx, "/chat", "n", events, 2*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// The first event must arrive before the first drop: without an
		// offset there is nothing to recover from.
		got := receive(t, ctx, sub, 1)
		stop := make(chan struct{})
		var drops int
		var dropErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for {
				pause := 500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))
				select {
				case <-time.After(pause): // the fault schedule itself
				case <-stop:
					return
				}
				var err error
				if tcpOnly {
					_, err = srv.CutTCP(ctx)
				} else {
					_, err = srv.Drop(ctx)
				}
				if err != nil {
					dropErr = err
					return
				}
				drops++
			}
		}()
		t.Cleanup(func() {
			if t.Failed() {
				evs := evs.snapshot()
				t.Logf("last events: %v", evs[max(0, len(evs)-30):])
				if emitted, done, err := srv.StreamStatus(context.Background()); err == nil {
					t.Logf("server stream: %d emitted, done %v", emitted, done)
				}
				if s, err := srv.Stats(context.Background()); err == nil {
					t.Logf("server: connects %d, recovered %d, open %d, namespaces %+v, engine closes %q, disconnects %v", s.Connects, s.Recovered, s.Open, s.Namespaces, s.EngineCloses[max(0, len(s.EngineCloses)-20):], s.Disconnects[max(0, len(s.Disconnects)-10):])
				}
			}
		})
		var stopOnce sync.Once
		halt := func() {
			stopOnce.Do(func() { close(stop) })
			wg.Wait()
		}
		t.Cleanup(halt)
		// Every event once, in order; with TCP cuts only, a reconnection
		// the server could not recover may skip some, but only after a gap.
		ids := map[string]bool{payloadID(got[0]): true}
		for last := payloadN(t, got[0]); last < events-1; {
			m := receive(t, ctx, sub, 1)[0]
			n := payloadN(t, m)
			if n <= last || !tcpOnly && n != last+1 || m.ID == "" || ids[m.ID] {
				t.Fatalf("message n=%d id %q after n=%d (duplicate id: %v)", n, m.ID, last, ids[m.ID])
			}
			if n != last+1 && sub.Stats().Gaps == 0 {
				t.Fatalf("message n=%d after n=%d with no gap reported", n, last)
			}
			ids[m.ID] = true
			got = append(got, m)
			last = n
		}
		halt()
		if dropErr != nil {
			t.Fatal(dropErr)
		}
		st := sub.Stats()
		srvStats, err := srv.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		upgrades := evs.count(carrier("polling", "websocket"))
		t.Logf("%s: %d events, %d drops, %d reconnects, %d recovered by the server, %d gaps, %d duplicates dropped, %d upgrades",
			name, len(got), drops, st.Reconnects, srvStats.Recovered, st.Gaps, st.Duplicates, upgrades)
		if drops < 2 || st.Reconnects < 1 && !tcpOnly {
			t.Fatalf("only %d drops and %d reconnects: the stream was too short to test anything", drops, st.Reconnects)
		}
		if st.Gaps != 0 && !tcpOnly || st.Duplicates != 0 {
			t.Fatalf("%d gaps, %d duplicates", st.Gaps, st.Duplicates)
		}
		if len(carriers) == 2 && upgrades < 2 {
			t.Fatalf("%d upgrades", upgrades)
		}
		// Nothing more comes.
		emit(t, ctx, srv, "/chat", "end")
		if m := receive(t, ctx, sub, 1)[0]; m.Event != "end" {
			t.Fatalf("after the stream: %+v", m)
		}
	})
}

// A namespace DISCONNECT from the server ends the subscription.
func TestSocketIO_serverDisconnect(t *testing.T) {
	ctx := sioCtx(t, 30*time.Second)
	srv := startSIO(t, nodeserver.SocketIOOptions{Recovery: true})
	sub := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL() + "/chat"}))
	evs := follow(t, sub)
	evs.wait(t, ctx, 1, kind(client.EventConnected))
	if err := srv.DisconnectNamespace(ctx, "/chat"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want io.EOF", err)
	}
	evs.wait(t, ctx, 1, kind(client.EventEnded))
}

// Send emits events the server receives; events asking for an ack are
// acknowledged; binary attachments arrive as base64.
func TestSocketIO_sendAckBinary(t *testing.T) {
	for _, carriers := range [][]string{{"polling"}, {"websocket"}} {
		t.Run(carriers[0], func(t *testing.T) {
			ctx := sioCtx(t, 30*time.Second)
			srv := startSIO(t, nodeserver.SocketIOOptions{})
			sub := subscribe(t, sioConfig(&socketio.Transport{URL: srv.URL() + "/chat", Transports: carriers}))
			evs := follow(t, sub)
			evs.wait(t, ctx, 1, kind(client.EventConnected))
			if err := sub.Send(ctx, []byte(`{"text":"hi"}`)); err != nil {
				t.Fatal(err)
			}
			if err := sub.Send(ctx, []byte(`plain`)); err != nil {
				t.Fatal(err)
			}
			s := waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return len(s.Received) == 2 })
			if s.Received[0].Event != "message" || string(s.Received[0].Args[0]) != `{"text":"hi"}` || string(s.Received[1].Args[0]) != `"plain"` {
				t.Fatalf("received %+v", s.Received)
			}
			if err := srv.EmitWithAck(ctx, "/chat", "ask", 1); err != nil {
				t.Fatal(err)
			}
			if m := receive(t, ctx, sub, 1)[0]; m.Event != "ask" || string(m.Data) != "[1]" {
				t.Fatalf("ask %+v", m)
			}
			s = waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return len(s.Acks) == 1 })
			if string(s.Acks[0]) != `{"answers":[null]}` {
				t.Fatalf("acks %s", s.Acks)
			}
			emit(t, ctx, srv, "/chat", "file", map[string]string{"$binary": "AQID"}, map[string]any{"name": "x", "body": map[string]string{"$binary": "/w=="}})
			if m := receive(t, ctx, sub, 1)[0]; m.Event != "file" || string(m.Data) != `[{"base64":"AQID"},{"body":{"base64":"/w=="},"name":"x"}]` {
				t.Fatalf("binary %+v %s", m, m.Data)
			}
		})
	}
}

// The command against the real server: a refusing middleware exits 1 with
// the server's message; a token from -auth-cmd joins -socketio-auth.
func TestSocketIO_cli(t *testing.T) {
	ctx := sioCtx(t, 2*time.Minute)
	bin := buildCLI(t, t.TempDir())
	refusing := startSIO(t, nodeserver.SocketIOOptions{Auth: "refuse"})
	code, stdout, stderr := runCLI(t, ctx, bin, "-socketio", refusing.URL()+"/chat")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "namespace /chat refused: Not authorized") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}

	srv := startSIO(t, nodeserver.SocketIOOptions{Auth: "token:tok-8765", Recovery: true})
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return s.Connects == 1 })
		for range 2 {
			if err := srv.Emit(ctx, "/", "price", map[string]int{"p": 7}); err != nil {
				t.Error(err)
			}
		}
	}()
	code, stdout, stderr = runCLI(t, ctx, bin, "-json", "-n", "2", "-socketio", srv.URL(),
		"-socketio-auth", `{"room":"r"}`, "-auth-cmd", "echo tok-8765", "-socketio-transports", "websocket")
	<-done
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var m struct {
		ID, Event, Transport string
		Data                 json.RawMessage
	}
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &m) != nil || m.ID == "" || m.Event != "price" ||
		string(m.Data) != `[{"p":7}]` || m.Transport != "socketio" {
		t.Fatalf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, `"state":"carrier","transport":"socketio","to":"websocket"`) || strings.Contains(stderr, "tok-8765") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	s, err := srv.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Auths) != 1 || string(s.Auths[0]["token"]) != `"tok-8765"` || string(s.Auths[0]["room"]) != `"r"` {
		t.Fatalf("auth seen %v", s.Auths)
	}
}

// A connection that goes silent (the proxy swallows everything, nothing
// closes) is found dead within the server's pingInterval + pingTimeout,
// with 10% to spare, measured from the last pong the server received
// (the answer to the last ping that came through).
func TestSocketIO_halfOpen(t *testing.T) {
	const interval, timeout = time.Second, time.Second
	budget := interval + timeout
	for _, carriers := range [][]string{{"polling"}, {"websocket"}} {
		t.Run(carriers[0], func(t *testing.T) {
			ctx := sioCtx(t, 60*time.Second)
			srv := startSIO(t, nodeserver.SocketIOOptions{PingInterval: interval, PingTimeout: timeout})
			proxy := newTCPProxy(t, srv.Addr())
			st, err := (&socketio.Transport{URL: proxy.URL(), Transports: carriers}).Open(ctx, transport.Request{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// Two heartbeats go through, then the black hole.
			waitSIO(t, ctx, srv, func(s nodeserver.SocketIOStats) bool { return s.Heartbeats >= 2 })
			proxy.holed.Store(true)
			_, err = st.Next(ctx)
			detected := time.Now()
			if !errors.Is(err, transport.ErrStalled) {
				t.Fatalf("err %v, want a stall", err)
			}
			s, err := srv.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			took := detected.Sub(time.UnixMilli(s.LastHeartbeat))
			t.Logf("%s: dead %v after the last pong (budget %v, %d heartbeats)", carriers[0], took.Round(time.Millisecond), budget, s.Heartbeats)
			// The pong reaches the server a little after the ping reached the
			// client (the watchdog's reference), more so on a loaded machine:
			// the lower bound only checks that the verdict is not early by
			// much more than that.
			if took < budget-250*time.Millisecond || took > budget+budget/10 {
				t.Fatalf("detected %v after the last pong, want about %v and within %v", took, budget, budget+budget/10)
			}
		})
	}
}
