//go:build chaos

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
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

// sioNamespace is the namespace the Socket.IO scenario follows.
const sioNamespace = "/chat"

// Server ping settings of the Socket.IO scenario: the server drops a
// session whose pongs stop after sioPingInterval+sioPingTimeout, and the
// subscriber (its HeartbeatTimeout being shorter than sioPingTimeout) calls
// a session dead after sioPingInterval+hbTimeout without a ping.
const (
	sioPingInterval = time.Second
	sioPingTimeout  = time.Second
)

// sioModes are the Engine.IO carriers of the scenario's runs: polling
// only, WebSocket only, and a polling handshake upgraded to WebSocket after
// every reconnection.
var sioModes = [][]string{{"polling"}, {"websocket"}, {"polling", "websocket"}}

// sioTarget publishes to a Socket.IO namespace: each message is a
// broadcast (so that, with recovery on, the server stores it with an
// offset) whose one argument carries the publisher's sequence number, the
// number the checker reads. Socket.IO offsets are opaque strings, not
// 1, 2, 3, ...; they stay the messages' ids, the subscriber's cursor.
type sioTarget struct {
	srv *nodeserver.SocketIO

	mu   sync.Mutex
	last uint64
}

// Publish emits the next sequence number and returns it as the id.
func (s *sioTarget) Publish(ctx context.Context, event string, _ json.RawMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.last + 1
	// The publisher's context ends when it is stopped, which could cut an
	// emit the server has made but not yet answered; the emit is let finish
	// (bounded) so that last stays what the server emitted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Emit(ctx, sioNamespace, event, map[string]any{"seq": n, "pad": "chaos-harness-payload"}); err != nil {
		return "", err
	}
	s.last = n
	return strconv.FormatUint(n, 10), nil
}

// LastID is the last sequence number emitted, "" before the first.
func (s *sioTarget) LastID(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == 0 {
		return "", nil
	}
	return strconv.FormatUint(s.last, 10), nil
}

// sioSeq reads the sequence number from a message's data, the event's
// arguments [{"seq": N, ...}]; "" when it is not there.
func sioSeq(m client.Message) string {
	var args []struct {
		Seq json.Number `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &args); err != nil || len(args) != 1 {
		return ""
	}
	return args[0].Seq.String()
}

// startSocketIO runs socketio.js for t with recovery on and the scenario's
// ping settings, and closes it at cleanup.
func startSocketIO(t *testing.T) *nodeserver.SocketIO {
	t.Helper()
	w := &tailWriter{}
	t.Cleanup(func() {
		if t.Failed() && w.String() != "" {
			t.Logf("node stderr (tail):\n%s", w)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // node with socket.io starts slowly on a loaded machine
	defer cancel()
	srv, err := nodeserver.StartSocketIO(ctx, nodeserver.SocketIOOptions{
		Recovery: true, PingInterval: sioPingInterval, PingTimeout: sioPingTimeout, Stderr: w,
	})
	if err != nil {
		t.Fatalf("start socket.io server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// TestSocketIO is scenario 7: the Socket.IO transport, with connection
// state recovery on the server, through Toxiproxy while connections are
// reset every 0.5–2 s (seeded), on polling only, on WebSocket only, and on
// a polling session upgraded to WebSocket anew after every reconnection.
// Every message must arrive exactly once, in order: the client resumes
// from the last offset and the server replays what was missed.
func TestSocketIO(t *testing.T) {
	prof, seed, rep := setup(t)
	tp := startToxiproxy(t)
	for _, carriers := range sioModes {
		mode := strings.Join(carriers, "+")
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := startSocketIO(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			px, err := tp.CreateProxy(ctx, "socketio_"+strings.Join(carriers, "_"), srv.Addr())
			cancel()
			if err != nil {
				t.Fatalf("create proxy: %v", err)
			}
			rng := rngFor(seed, "socketio/"+mode)
			target := &sioTarget{srv: srv}

			start := time.Now()
			tr := &socketio.Transport{
				URL:              px.URL(sioNamespace),
				Transports:       carriers,
				HandshakeTimeout: 2 * time.Second,
				ConnectTimeout:   5 * time.Second,
				UpgradeTimeout:   2 * time.Second,
			}
			rec, err := RecordBy(context.Background(), soakConfig(t, seed, "socketio/"+mode, []transport.Transport{tr}), sioSeq)
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			t.Cleanup(rec.Close)
			t.Cleanup(func() {
				if t.Failed() {
					sioDiagnose(t, srv)
				}
			})

			// A broadcast reaches only the sockets connected when it is
			// made, and a resume needs an offset: publish once the
			// namespace is connected, fault once a message has arrived.
			ctx, cancel = context.WithTimeout(context.Background(), prof.MaxSoak)
			defer cancel()
			if _, err := rec.WaitEvent(ctx, client.EventConnected, start); err != nil {
				t.Fatalf("never connected: %v\nevents:\n%s", err, EventLog(rec.Events(), start, 40))
			}
			pub := publish(t, target, prof.Rate)
			if err := rec.WaitDelivered(ctx, 1); err != nil {
				t.Fatalf("nothing delivered: %v\nevents:\n%s", err, EventLog(rec.Events(), start, 40))
			}

			// Before each fault, and at the end, the server is asked whether
			// a socket of the namespace is connected but in no room, which
			// no broadcast reaches (socket.io issue #4880). It is counted,
			// not excused: such a socket would lose messages.
			faults, orphaned, samples := 0, 0, 0
			sample := func() {
				s, err := srv.Stats(ctx)
				if err != nil {
					t.Fatalf("server stats: %v", err)
				}
				samples++
				if ns := s.Namespaces[sioNamespace]; ns.Sockets > ns.Sids {
					orphaned++
				}
			}
			for faults < prof.Faults || pub.Published() < prof.Messages {
				if err := pause(ctx, gap(rng, 500*time.Millisecond, 2*time.Second)); err != nil {
					t.Fatalf("soak not done within %v: %d faults, %d messages", prof.MaxSoak, faults, pub.Published())
				}
				sample()
				if err := injectReset(ctx, px); err != nil {
					t.Fatalf("inject reset: %v", err)
				}
				faults++
			}
			elapsed := time.Since(start)
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			if err := rec.WaitDelivered(wctx, uint64(pub.Published())); err == nil {
				sample() // reconnected after the last fault
			}
			wcancel()
			v, a := finish(t, target, pub, rec, start)
			st := rec.Stats()
			sst, err := srv.Stats(context.Background())
			if err != nil {
				t.Fatalf("server stats: %v", err)
			}
			upgrades, carried := 0, map[string]bool{}
			for _, e := range rec.Events() {
				if e.Kind == client.EventCarrier {
					carried[e.To] = true
					if e.From == "polling" && e.To == "websocket" {
						upgrades++
					}
				}
			}
			ends := map[string]int{}
			for _, r := range sst.EngineCloses {
				ends[r]++
			}
			t.Logf("socketio %s: %d faults in %v; %s; disconnects %d, reconnects %d, recovered by the server %d, upgrades %d, gaps %d, duplicates dropped %d; server session ends %v; socket out of every room in %d of %d samples",
				mode, faults, elapsed.Round(time.Millisecond), v, a.Disconnects, a.Reconnects, sst.Recovered, upgrades, st.Gaps, st.Duplicates, ends, orphaned, samples)
			if orphaned != 0 {
				t.Errorf("a socket out of every room in %d of %d samples (socket.io issue #4880)", orphaned, samples)
			}
			if a.Disconnects < faults/2 {
				t.Errorf("only %d disconnects for %d injected resets: the faults did not bite", a.Disconnects, faults)
			}
			if st.Gaps != 0 {
				t.Errorf("%d gaps reported: a reconnection was not recovered", st.Gaps)
			}
			for _, c := range []string{"polling", "websocket"} {
				used := strings.Contains(mode, c)
				if carried[c] != used {
					t.Errorf("carrier %s in use %v, want %v (carriers seen %v)", c, carried[c], used, carried)
				}
			}
			if len(carriers) == 2 && upgrades < 2 {
				t.Errorf("%d upgrades to WebSocket: the upgrades were not exercised across drops", upgrades)
			}
			_ = rep.Row("socketio", mode, itoa(v.Expected), itoa(v.Delivered), itoa(v.Lost), itoa(v.Duplicated), itoa(v.OutOfOrder),
				itoa(faults), itoa(a.Disconnects), itoa(a.Reconnects), itoa(sst.Recovered), itoa(upgrades), itoa(st.Gaps),
				sessionEnds(ends), fmt.Sprintf("%d of %d", orphaned, samples), elapsed.Round(time.Second).String(), pass(t))
		})
	}
}

// sessionEnds renders the server's reasons for ending engine sessions
// with their counts, most frequent first.
func sessionEnds(ends map[string]int) string {
	keys := make([]string, 0, len(ends))
	for k := range ends {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ends[keys[i]] != ends[keys[j]] {
			return ends[keys[i]] > ends[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, ends[k])
	}
	return strings.Join(parts, ", ")
}

// sioDiagnose logs the server's view of a failed run: a namespace with
// more sockets than the adapter knows has a connected socket that no
// broadcast reaches (socket.io issue #4880).
func sioDiagnose(t *testing.T, srv *nodeserver.SocketIO) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := srv.Stats(ctx)
	if err != nil {
		t.Logf("server stats: %v", err)
		return
	}
	t.Logf("server: connects %d, recovered %d, engine sessions open %d, namespaces %+v, last engine closes %q",
		s.Connects, s.Recovered, s.Open, s.Namespaces, s.EngineCloses[max(0, len(s.EngineCloses)-10):])
	if ns := s.Namespaces[sioNamespace]; ns.Sockets > ns.Sids {
		t.Logf("namespace %s has %d sockets connected but %d in the adapter: a socket out of every room (socket.io issue #4880)",
			sioNamespace, ns.Sockets, ns.Sids)
	}
}
