package socketio

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/siotest"
	"github.com/anysub/anysub/transport"
)

func TestTransport_websocketOnly(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: strings.Replace(srv.URL(), "http", "ws", 1), Transports: []string{"websocket"}},
		transport.Request{Session: cs.session()})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
	srv.Emit("/", "tick", 1)
	wantMsg(t, next(t, ctx, st), "", "tick", `[1]`)
	if got := cs.list(); len(got) != 1 || got[0] != ">websocket" {
		t.Fatalf("carriers %q", got)
	}
	if s := srv.Stats(); s.Handshakes["polling"] != 0 || s.Handshakes["websocket"] != 1 {
		t.Fatalf("handshakes %v", s.Handshakes)
	}
}

func TestTransport_upgrade(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Session: cs.session()})
	srv.Emit("/", "a")
	wantMsg(t, next(t, ctx, st), "", "a", `[]`)
	cs.waitFor(t, ctx, "polling>websocket")
	srv.Emit("/", "b")
	wantMsg(t, next(t, ctx, st), "", "b", `[]`)
	s := srv.Stats()
	if s.Upgrades != 1 || s.Probes != 1 || s.Overlaps != 0 {
		t.Fatalf("upgrades %d, probes %d, overlaps %d", s.Upgrades, s.Probes, s.Overlaps)
	}
	if got := cs.list(); len(got) != 2 || got[0] != ">polling" {
		t.Fatalf("carriers %q", got)
	}
	// Sends go over the WebSocket now.
	posts := s.Posts
	if err := st.(transport.Sender).Send(ctx, []byte(`{"x":1}`), ""); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return len(s.Received) == 1 })
	if s := srv.Stats(); s.Posts != posts || s.Received[0].Event != "message" || string(s.Received[0].Args) != `[{"x":1}]` {
		t.Fatalf("posts %d (was %d), received %+v", s.Posts, posts, s.Received)
	}
}

// Events emitted while the session is upgrading all arrive, once and in
// order, whichever carrier brings them.
func TestTransport_upgrade_ordered(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{Recovery: true})
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: srv.URL()}, transport.Request{Session: cs.session()})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			srv.Emit("/", "n", i)
		}
	}()
	for i := range n {
		m := next(t, ctx, st)
		wantMsg(t, m, "o"+strconv.Itoa(i+1), "n", "["+strconv.Itoa(i)+"]")
	}
	<-done
	cs.waitFor(t, ctx, "polling>websocket")
}

func TestTransport_pollingOnly(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts siotest.Options
		tr   []string
	}{
		{"server offers no upgrade", siotest.Options{NoUpgrades: true}, nil},
		{"server polls only", siotest.Options{PollingOnly: true}, nil},
		{"client polls only", siotest.Options{}, []string{"polling"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := newServer(t, tt.opts)
			st := open(t, ctx, &Transport{URL: srv.URL(), Transports: tt.tr, UpgradeRetry: -1}, transport.Request{})
			waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.Connects == 1 })
			for i := range 3 {
				srv.Emit("/", "n", i)
				wantMsg(t, next(t, ctx, st), "", "n", "["+strconv.Itoa(i)+"]")
			}
			if s := srv.Stats(); s.Probes != 0 || s.Upgrades != 0 {
				t.Fatalf("probes %d, upgrades %d", s.Probes, s.Upgrades)
			}
		})
	}
}

// A proxy that refuses WebSocket leaves the session on polling; the
// upgrade is tried again, and succeeds once the proxy lets it through.
func TestTransport_upgradeBlocked(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	srv.BlockWebSocket(true)
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: srv.URL(), UpgradeRetry: 50 * time.Millisecond}, transport.Request{Session: cs.session()})
	waitStats(t, ctx, srv, func(s siotest.Stats) bool { return s.BlockedUpgrades >= 2 })
	srv.Emit("/", "still")
	wantMsg(t, next(t, ctx, st), "", "still", `[]`)
	if got := cs.list(); len(got) != 1 || got[0] != ">polling" {
		t.Fatalf("carriers %q while blocked", got)
	}
	srv.BlockWebSocket(false)
	cs.waitFor(t, ctx, "polling>websocket")
	srv.Emit("/", "after")
	wantMsg(t, next(t, ctx, st), "", "after", `[]`)
}

func TestTransport_websocketRefused(t *testing.T) {
	ctx := testCtx(t)
	for _, tt := range []struct {
		name   string
		status int
		class  transport.Class
	}{
		{"forbidden by a proxy", http.StatusForbidden, transport.Unsupported},
		{"unauthorized", http.StatusUnauthorized, transport.Permanent},
		{"server error", http.StatusBadGateway, transport.Transient},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", tt.status)
			}))
			defer proxy.Close()
			_, err := (&Transport{URL: proxy.URL, Transports: []string{"websocket"}}).Open(ctx, transport.Request{})
			if c := classOf(t, err); c != tt.class {
				t.Fatalf("class %v, want %v: %v", c, tt.class, err)
			}
		})
	}
	t.Run("server polls only", func(t *testing.T) {
		srv := newServer(t, siotest.Options{PollingOnly: true})
		_, err := (&Transport{URL: srv.URL(), Transports: []string{"websocket"}}).Open(ctx, transport.Request{})
		var ee *EngineError
		if classOf(t, err) != transport.Unsupported || !errors.As(err, &ee) || ee.Code != 0 {
			t.Fatalf("err %v", err)
		}
	})
}

func TestTransport_notFound(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{})
	_, err := (&Transport{URL: srv.URL(), Path: "/elsewhere/"}).Open(ctx, transport.Request{})
	if c := classOf(t, err); c != transport.Unsupported {
		t.Fatalf("class %v: %v", c, err)
	}
}

// A session the server no longer knows (a restart, no sticky session)
// ends the stream transiently, so that the client makes a new handshake.
func TestTransport_sessionUnknown(t *testing.T) {
	ctx := testCtx(t)
	srv := newServer(t, siotest.Options{NoUpgrades: true, Sticky: true})
	// A client with its own cookie jar that drops every cookie: the
	// affinity cookie never comes back.
	hc := &http.Client{Jar: dropJar{}}
	_, err := (&Transport{URL: srv.URL()}).Open(ctx, transport.Request{HTTPClient: hc})
	var ee *EngineError
	if classOf(t, err) != transport.Transient || !errors.As(err, &ee) || ee.Code != codeUnknownSID {
		t.Fatalf("err %v", err)
	}
	// With the session's own jar, the cookie goes with every request,
	// WebSocket included.
	srv2 := newServer(t, siotest.Options{Sticky: true})
	cs := newCarriers()
	st := open(t, ctx, &Transport{URL: srv2.URL()}, transport.Request{Session: cs.session()})
	cs.waitFor(t, ctx, "polling>websocket")
	srv2.Emit("/", "x")
	wantMsg(t, next(t, ctx, st), "", "x", `[]`)
	if s := srv2.Stats(); s.CookieMisses != 0 {
		t.Fatalf("%d requests without the cookie", s.CookieMisses)
	}
	// A drop while polling is found when the next GET fails.
	srv2.Drop()
	_, err = st.Next(ctx)
	if classOf(t, err) != transport.Transient || errors.Is(err, io.EOF) {
		t.Fatalf("after a drop: %v", err)
	}
}

// dropJar keeps no cookie.
type dropJar struct{}

func (dropJar) SetCookies(*url.URL, []*http.Cookie) {}
func (dropJar) Cookies(*url.URL) []*http.Cookie     { return nil }
