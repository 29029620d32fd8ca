package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/testserver"
	"github.com/anysub/anysub/transport"
)

// demoStep is one fault (or repair) of the demo's schedule.
type demoStep struct {
	at    time.Duration
	say   string
	apply func(*testserver.Server)
}

// demoSchedule forces, in about 15 s: a downgrade from WebSocket to SSE, a
// second downgrade when SSE is buffered by a "proxy", a dropped connection,
// and an upgrade back to WebSocket once it is allowed again.
var demoSchedule = []demoStep{
	{2 * time.Second, "fault: refusing WebSocket upgrades and dropping every connection", func(s *testserver.Server) {
		s.RefuseWebSocket(403)
		s.DropAll()
	}},
	{5 * time.Second, "fault: SSE now passes through a buffering proxy (bytes held back)", func(s *testserver.Server) {
		s.BufferSSE(true)
		s.DropAll()
	}},
	{8 * time.Second, "fault: dropping every connection", func(s *testserver.Server) { s.DropAll() }},
	{10 * time.Second, "repair: WebSocket allowed again, proxy gone", func(s *testserver.Server) {
		s.RefuseWebSocket(0)
		s.BufferSSE(false)
	}},
}

const (
	demoPublishEvery = 100 * time.Millisecond
	demoPublishFor   = 13 * time.Second
	demoDrainFor     = 3 * time.Second
)

// runDemo runs the embedded server, a publisher and a subscriber over the
// full ladder while the fault schedule plays, then prints a summary. It
// returns 0 only if every published message was delivered exactly once.
func runDemo(ctx context.Context, o *options, out *printer) int {
	srv := testserver.New(testserver.Options{LongPollHold: time.Second, KeepAlive: 200 * time.Millisecond})
	defer srv.Close()
	out.note("demo: embedded server at %s; publishing every %s for %s", srv.URL(), demoPublishEvery, demoPublishFor)

	sub, err := client.Subscribe(ctx, client.Config{
		Transports: []transport.Transport{
			&transport.WebSocket{URL: srv.WebSocketURL()},
			&transport.SSE{URL: srv.SSEURL()},
			&transport.LongPoll{URL: srv.LongPollURL(), Hold: time.Second},
			&transport.Poll{URL: srv.PollURL(), Interval: 250 * time.Millisecond},
		},
		Backoff:           backoff.Exponential{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		HeartbeatInterval: 300 * time.Millisecond,
		HeartbeatTimeout:  200 * time.Millisecond,
		DowngradeAfter:    2,
		UpgradeInterval:   time.Second,
	})
	if err != nil {
		out.failure(err)
		return 1
	}
	events := out.followEvents(sub)

	// The publisher and the fault schedule run beside the subscriber; both
	// stop with demoCtx and are joined before the summary.
	demoCtx, stopDemo := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var published []string
	var pubMu sync.Mutex
	pubDone := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(pubDone)
		tick := time.NewTicker(demoPublishEvery)
		defer tick.Stop()
		end := time.After(demoPublishFor)
		for n := 1; ; n++ {
			select {
			case <-demoCtx.Done():
				return
			case <-end:
				return
			case <-tick.C:
				id := srv.Publish("price", []byte(fmt.Sprintf(`{"seq":%d,"price":%.2f}`, n, 100+float64(n%37)/4)))
				pubMu.Lock()
				published = append(published, id)
				pubMu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		start := time.Now()
		for _, st := range demoSchedule {
			t := time.NewTimer(time.Until(start.Add(st.at)))
			select {
			case <-demoCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			out.note("%s", st.say)
			st.apply(srv)
		}
	}()

	delivered := map[string]int{}
	var order []string
	var used []string
	deadline := time.Now().Add(demoPublishFor + demoDrainFor)
	for time.Now().Before(deadline) {
		nctx, cancel := context.WithDeadline(ctx, deadline)
		m, err := sub.Next(nctx)
		cancel()
		if err != nil {
			break
		}
		out.message(m)
		delivered[m.ID]++
		order = append(order, m.ID)
		if len(used) == 0 || used[len(used)-1] != m.Transport {
			used = append(used, m.Transport)
		}
		select {
		case <-pubDone: // publishing is over: stop once everything has arrived
			pubMu.Lock()
			caughtUp := len(delivered) >= len(published)
			pubMu.Unlock()
			if caughtUp {
				deadline = time.Now()
			}
		default:
		}
	}
	stopDemo()
	wg.Wait()
	stats := sub.Stats()
	sub.Close()
	<-events

	lost, dups := 0, 0
	for _, id := range published {
		if delivered[id] == 0 {
			lost++
		}
	}
	for _, n := range delivered {
		if n > 1 {
			dups += n - 1
		}
	}
	inOrder := sortedByID(order)
	out.note("summary: published %d, delivered %d, %d lost, %d duplicated, in order: %v; transports used: %s; downgrades %d, upgrades %d, reconnects %d, duplicates dropped by the client %d",
		len(published), len(order), lost, dups, inOrder, strings.Join(used, " -> "), stats.Downgrades, stats.Upgrades, stats.Reconnects, stats.Duplicates)
	if ctx.Err() != nil {
		return 0 // interrupted
	}
	if lost != 0 || dups != 0 || !inOrder {
		return 1
	}
	return 0
}

// sortedByID reports whether the numeric ids are strictly increasing.
func sortedByID(ids []string) bool {
	prev := 0
	for _, id := range ids {
		n, err := strconv.Atoi(id)
		if err != nil || n <= prev {
			return false
		}
		prev = n
	}
	return true
}
