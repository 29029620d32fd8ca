package main

// Tests of the built command's Socket.IO flags against the in-process
// Engine.IO / Socket.IO server of internal/siotest. (The real Node.js
// server is the judge in internal/nodeserver's interop tests.)

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/siotest"
)

func newSIOServer(t *testing.T, opts siotest.Options) *siotest.Server {
	t.Helper()
	srv := siotest.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// carrierLine matches a -json "carrier" state line.
func carrierLine(from, to string) func(string) bool {
	return func(line string) bool {
		var s struct {
			State, Transport, From, To string
		}
		return json.Unmarshal([]byte(line), &s) == nil && s.State == "carrier" && s.Transport == "socketio" && s.From == from && s.To == to
	}
}

// -socketio: events of the namespace in the URL's path print with their
// offset as id, their name as event and their other arguments as data;
// the engine transport in use and the upgrade print as state lines.
func TestBinary_socketio(t *testing.T) {
	srv := newSIOServer(t, siotest.Options{Recovery: true})
	p := startBinary(t, false, "-json", "-n", "3", "-socketio", srv.URL()+"/chat")
	p.waitLines(p.stderr, 1, carrierLine("polling", "websocket"))
	srv.Emit("/", "elsewhere")
	srv.Emit("/chat", "price", map[string]int{"p": 1})
	srv.Emit("/chat", "note", "plain text", 2)
	srv.Emit("/chat", "tick")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(),
		msg("o2", "price", `[{"p":1}]`, "socketio"),
		msg("o3", "note", `["plain text",2]`, "socketio"),
		msg("o4", "tick", `[]`, "socketio"))
	var states []string
	for l := range strings.Lines(p.stderr.String()) {
		if s, ok := parseState(l); ok {
			states = append(states, s.State+" "+s.Transport)
		}
	}
	if len(states) < 4 || states[0] != "connecting socketio" || states[1] != "carrier socketio" || states[2] != "connected socketio" {
		t.Fatalf("states %q\n%s", states, p.stderr)
	}
	p.waitLines(p.stderr, 1, carrierLine("", "polling"))

	// Text mode says the same in words.
	srv2 := newSIOServer(t, siotest.Options{NoUpgrades: true})
	p = startBinary(t, false, "-n", "1", "-socketio", strings.Replace(srv2.URL(), "http", "ws", 1))
	p.waitLines(p.stderr, 1, contains("anysub: carrier socketio: polling"))
	srv2.Emit("/", "hello", "world")
	if code := p.wait(); code != 0 || p.stdout.String() != `socketio  id= event=hello ["world"]`+"\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, p.stdout, p.stderr)
	}
}

// -socketio-transports picks the engine transports.
func TestBinary_socketioTransports(t *testing.T) {
	t.Run("websocket", func(t *testing.T) {
		srv := newSIOServer(t, siotest.Options{})
		p := startBinary(t, false, "-json", "-n", "1", "-socketio", srv.URL(), "-socketio-transports", "websocket")
		p.waitLines(p.stderr, 1, carrierLine("", "websocket"))
		srv.Emit("/", "x")
		if code := p.wait(); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
		}
		if s := srv.Stats(); s.Handshakes["polling"] != 0 || s.Handshakes["websocket"] != 1 {
			t.Fatalf("handshakes %v", s.Handshakes)
		}
	})
	t.Run("polling", func(t *testing.T) {
		srv := newSIOServer(t, siotest.Options{})
		p := startBinary(t, false, "-json", "-n", "2", "-socketio", srv.URL(), "-socketio-transports", "polling")
		p.waitLines(p.stderr, 1, carrierLine("", "polling"))
		srv.Emit("/", "x")
		srv.Emit("/", "y")
		if code := p.wait(); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
		}
		if s := srv.Stats(); s.Probes != 0 || s.Upgrades != 0 || strings.Contains(p.stderr.String(), `"to":"websocket"`) {
			t.Fatalf("upgraded: %+v\n%s", s, p.stderr)
		}
	})
	t.Run("blocked upgrade", func(t *testing.T) {
		// A proxy refuses WebSocket: the subscription stays on polling and
		// upgrades once it may, -upgrade-interval later.
		srv := newSIOServer(t, siotest.Options{})
		srv.BlockWebSocket(true)
		p := startBinary(t, false, "-json", "-n", "1", "-socketio", srv.URL(), "-upgrade-interval", "100ms")
		p.waitLines(p.stderr, 1, carrierLine("", "polling"))
		if err := srv.Wait(waitCtx(t), func(s siotest.Stats) bool { return s.BlockedUpgrades >= 2 }); err != nil {
			t.Fatal(err)
		}
		srv.BlockWebSocket(false)
		p.waitLines(p.stderr, 1, carrierLine("polling", "websocket"))
		srv.Emit("/", "x")
		if code := p.wait(); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
		}
	})
}

// -socketio-path names the Engine.IO path.
func TestBinary_socketioPath(t *testing.T) {
	srv := newSIOServer(t, siotest.Options{Path: "/rt/"})
	p := startBinary(t, false, "-json", "-n", "1", "-socketio", srv.URL(), "-socketio-path", "/rt")
	p.waitLines(p.stderr, 1, hasState("connected", "socketio"))
	srv.Emit("/", "x", 1)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(), msg("", "x", `[1]`, "socketio"))

	// The default path is not served there: the rung is unsupported.
	code, _, stderr := runBinary(t, "-socketio", srv.URL())
	if code != 1 || !strings.Contains(stderr, "socketio") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
}

// -socketio-auth is the CONNECT auth object; -auth-cmd's token joins it.
// A middleware's refusal ends the command with exit 1 and its message.
func TestBinary_socketioAuth(t *testing.T) {
	var mu sync.Mutex
	var seen []map[string]any
	var headers []string
	srv := newSIOServer(t, siotest.Options{Auth: func(nsp string, auth map[string]any, h http.Header) string {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, auth)
		headers = append(headers, h.Get("Authorization"))
		if auth["token"] != "tok-good-1234" {
			return "Not authorized: bad token"
		}
		return ""
	}})
	p := startBinary(t, false, "-json", "-n", "1", "-socketio", srv.URL()+"/chat",
		"-socketio-auth", `{"room":"r1"}`, "-auth-cmd", "echo tok-good-1234")
	p.waitLines(p.stderr, 1, hasState("connected", "socketio"))
	srv.Emit("/chat", "in")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0]["room"] != "r1" || seen[0]["token"] != "tok-good-1234" || headers[0] != "Bearer tok-good-1234" {
		t.Fatalf("auth %v, headers %q", seen, headers)
	}
	mu.Unlock()

	code, stdout, stderr := runBinary(t, "-socketio", srv.URL()+"/chat", "-socketio-auth", `{"token":"tok-bad-5678"}`)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "Not authorized: bad token") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "connecting socketio"); n != 1 {
		t.Fatalf("%d attempts after a refusal; stderr:\n%s", n, stderr)
	}
}

// A reconnection that cannot recover prints a gap.
func TestBinary_socketioGap(t *testing.T) {
	srv := newSIOServer(t, siotest.Options{Recovery: true})
	p := startBinary(t, false, "-json", "-n", "2", "-socketio", srv.URL(), "-backoff-min", "10ms", "-backoff-max", "20ms")
	p.waitLines(p.stderr, 1, hasState("connected", "socketio"))
	srv.Emit("/", "n", 1)
	p.waitLines(p.stdout, 1, contains(`"event":"n"`))
	srv.Drop()
	srv.Forget()
	p.waitLines(p.stderr, 1, hasState("gap", "socketio"))
	p.waitLines(p.stderr, 2, hasState("connected", "socketio"))
	srv.Emit("/", "n", 2)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(), msg("o1", "n", `[1]`, "socketio"), msg("o2", "n", `[2]`, "socketio"))
	if !strings.Contains(p.stderr.String(), `"state":"gap","transport":"socketio","id":"o1"`) {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
}

// -send emits each line as a "message" event.
func TestBinary_socketioSend(t *testing.T) {
	srv := newSIOServer(t, siotest.Options{})
	p := startBinary(t, true, "-json", "-send", "-socketio", srv.URL()+"/chat")
	p.waitLines(p.stderr, 1, hasState("connected", "socketio"))
	if _, err := p.stdin.Write([]byte("{\"text\":\"hi\"}\nplain\n")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(waitCtx(t), func(s siotest.Stats) bool { return len(s.Received) == 2 }); err != nil {
		t.Fatal(err)
	}
	got := srv.Stats().Received
	if got[0].Event != "message" || string(got[0].Args) != `[{"text":"hi"}]` || string(got[1].Args) != `["plain"]` || got[1].Namespace != "/chat" {
		t.Fatalf("received %+v", got)
	}
	p.waitLines(p.stderr, 2, hasState("sent", "socketio"))
}

func TestBinary_socketioBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-socketio", "ftp://host"},
		{"-socketio", "http://host", "-socketio-auth", `[1]`},
		{"-socketio", "http://host", "-socketio-transports", "websocket,polling"},
		{"-socketio", "http://host", "-socketio-path", " "},
		{"-socketio-auth", `{}`},
		{"-sse", "http://host", "-socketio-transports", "polling"},
	} {
		code, _, stderr := runBinary(t, args...)
		if code != 2 || !strings.Contains(stderr, "socketio") {
			t.Errorf("%q: exit %d; stderr:\n%s", args, code, stderr)
		}
	}
}

// The heartbeat follows the server's pings: a server that stops pinging is
// left after its pingInterval plus the shorter of its pingTimeout and the
// command's heartbeat timeout.
func TestBinary_socketioHeartbeat(t *testing.T) {
	srv := newSIOServer(t, siotest.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 5 * time.Second})
	p := startBinary(t, false, "-json", "-socketio", srv.URL(), "-socketio-transports", "websocket", "-heartbeat", "300ms", "-n", "1")
	p.waitLines(p.stderr, 1, hasState("connected", "socketio"))
	srv.StopPings(true)
	p.waitLines(p.stderr, 1, contains("no ping from the server for 400ms"))
	srv.StopPings(false)
	p.waitLines(p.stderr, 2, hasState("connected", "socketio"))
	srv.Emit("/", "back")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
}
