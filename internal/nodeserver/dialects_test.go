//go:build interop

package nodeserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
	"github.com/coder/websocket"
)

// The tests in this file run the SDK against dialects.js: servers whose
// protocols are those of Node.js tutorials rather than anysub's defaults, so
// that everything the client needs to speak them goes through its public
// hooks (Hello, Control, ConfirmTimeout, AppPing, CloseClass, Decoder,
// CursorParam, Send).

// startDialects runs dialects.js for the test, its stderr in the test's
// output.
func startDialects(t *testing.T, opts nodeserver.DialectOptions) *nodeserver.Dialects {
	t.Helper()
	if opts.Stderr == nil {
		opts.Stderr = t.Output()
	}
	d, err := nodeserver.StartDialects(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// dialectCtx bounds every wait of a test of this file. The board's tests
// take a few seconds by design, so the budget is wider than testCtx's.
func dialectCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond, which asks the server about its state, until it
// holds; ctx bounds the wait. what describes the wait (and the state last
// seen) when it fails.
func waitUntil(t *testing.T, ctx context.Context, what func() string, cond func() (bool, error)) {
	t.Helper()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what(), ctx.Err())
		case <-time.After(5 * time.Millisecond): // polling the condition, bounded by ctx
		}
	}
}

// reconnected waits until sub has lost a connection after cut and made a
// new one.
func reconnected(t *testing.T, ctx context.Context, sub *client.Subscription, cut time.Time) {
	t.Helper()
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventDisconnected && e.Time.After(cut) })
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventConnected })
}

// ---- chat ----

// chatLine is a message as the chat broadcasts it.
type chatLine struct {
	ID   int64  `json:"id"`
	User string `json:"user"`
	Text string `json:"text"`
	CID  string `json:"cid"`
}

// chatLogin is the Hello of a chat user: the login frame a tutorial's client
// sends on open, with the cursor as since when there is one, so that a
// reconnection replays what the subscription missed.
func chatLogin(user string) func(cursor string) ([][]byte, error) {
	return func(cursor string) ([][]byte, error) {
		b, err := json.Marshal(struct {
			Type  string `json:"type"`
			User  string `json:"user"`
			Since string `json:"since,omitempty"`
		}{"login", user, cursor})
		return [][]byte{b}, err
	}
}

// chatConfig subscribes user to the chat. The id of a message is the
// server's integer "id"; a chat line has no "data", so Data is the whole
// line. The cuts of these tests close the TCP connection, which the client
// sees at once, so the heartbeat is slow: a busy machine must not make it
// cut a connection of its own accord in the middle of a test.
func chatConfig(d *nodeserver.Dialects, user string) client.Config {
	cfg := config(&transport.WebSocket{URL: d.ChatURL(), Hello: chatLogin(user)})
	cfg.Decoder = transport.Fields{ID: "id"}.Decoder()
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 5*time.Second, 5*time.Second
	return cfg
}

// say sends line n of user.
func say(t *testing.T, ctx context.Context, sub *client.Subscription, user string, n int) {
	t.Helper()
	b := fmt.Appendf(nil, `{"type":"say","text":"%s says %d","cid":"%s-%d"}`, user, n, user, n)
	if err := sub.Send(ctx, b); err != nil {
		t.Fatalf("%s says %d: %v", user, n, err)
	}
}

// receiveChat reads n chat lines, which must carry the ids from, from+1, ...
func receiveChat(t *testing.T, ctx context.Context, sub *client.Subscription, from, n int) []chatLine {
	t.Helper()
	msgs := receive(t, ctx, sub, n)
	checkSequence(t, msgs, from)
	out := make([]chatLine, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Data, &out[i]); err != nil {
			t.Fatalf("message %s: data %s: %v", m.ID, m.Data, err)
		}
		if strconv.FormatInt(out[i].ID, 10) != m.ID || m.Event != "" || m.Transport != transport.NameWebSocket {
			t.Fatalf("message %+v: data %s", m, m.Data)
		}
	}
	return out
}

// checkSaid fails unless lines are, in order, user's lines from, from+1, ...
func checkSaid(t *testing.T, lines []chatLine, user string, from int) {
	t.Helper()
	n := from
	for _, l := range lines {
		if l.User != user {
			continue
		}
		if want := fmt.Sprintf("%s says %d", user, n); l.Text != want || l.CID != fmt.Sprintf("%s-%d", user, n) {
			t.Fatalf("line %+v, want %q", l, want)
		}
		n++
	}
}

// chatLogins returns every login the chat has seen.
func chatLogins(t *testing.T, ctx context.Context, d *nodeserver.Dialects) []nodeserver.ChatLogin {
	t.Helper()
	ls, err := d.ChatLogins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// waitLogin waits until the chat has seen more than after logins and one
// of those by user has refused set as given, and returns it.
func waitLogin(t *testing.T, ctx context.Context, d *nodeserver.Dialects, after int, user string, refused bool) nodeserver.ChatLogin {
	t.Helper()
	var found nodeserver.ChatLogin
	var ls []nodeserver.ChatLogin
	what := func() string { return fmt.Sprintf("a login of %s with refused %v; logins %+v", user, refused, ls) }
	waitUntil(t, ctx, what, func() (bool, error) {
		var err error
		ls, err = d.ChatLogins(ctx)
		if err != nil || len(ls) <= after {
			return false, err
		}
		for _, l := range ls[after:] {
			if l.User == user && l.Refused == refused {
				found = l
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func TestDialects_chatLoginFrameResumesWithSince(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{})
	a := subscribe(t, chatConfig(d, "a"))
	b := subscribe(t, chatConfig(d, "b"))
	// A fresh login (no since) gets live messages only: both must be in.
	waitLogin(t, ctx, d, 0, "a", false)
	waitLogin(t, ctx, d, 0, "b", false)
	for _, l := range chatLogins(t, ctx, d) {
		if l.Since != nil {
			t.Fatalf("first login %+v carries since %s", l, l.Since)
		}
	}

	// Both say something; everyone sees the same log, each user's lines in
	// the order sent.
	for i := 1; i <= 3; i++ {
		say(t, ctx, a, "a", i)
	}
	for i := 1; i <= 2; i++ {
		say(t, ctx, b, "b", i)
	}
	gotA, gotB := receiveChat(t, ctx, a, 1, 5), receiveChat(t, ctx, b, 1, 5)
	if !slices.Equal(gotA, gotB) {
		t.Fatalf("a saw %+v, b saw %+v", gotA, gotB)
	}
	checkSaid(t, gotA, "a", 1)
	checkSaid(t, gotA, "b", 1)

	// Every connection cut. a speaks once it is back (a frame written to
	// a connection that is already dead on the server's side is lost, as
	// Send documents); b comes back whenever it does and logs in with
	// since 5.
	logins := len(chatLogins(t, ctx, d))
	cut := time.Now()
	if _, err := d.DropChat(ctx); err != nil {
		t.Fatal(err)
	}
	reconnected(t, ctx, a, cut)
	for i := 4; i <= 6; i++ {
		say(t, ctx, a, "a", i)
	}
	gotA, gotB = receiveChat(t, ctx, a, 6, 3), receiveChat(t, ctx, b, 6, 3)
	if !slices.Equal(gotA, gotB) {
		t.Fatalf("a saw %+v, b saw %+v", gotA, gotB)
	}
	checkSaid(t, gotA, "a", 4)
	if l := waitLogin(t, ctx, d, logins, "b", false); string(l.Since) != `"5"` {
		t.Fatalf("b logged in again with since %s, want \"5\"", l.Since)
	}

	// Cut again, and keep b out while a says four more lines: b can only
	// get them by the replay its login asks for.
	if err := d.HoldChat(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	logins = len(chatLogins(t, ctx, d))
	cut = time.Now()
	if _, err := d.DropChat(ctx); err != nil {
		t.Fatal(err)
	}
	reconnected(t, ctx, a, cut)
	waitLogin(t, ctx, d, logins, "b", true) // turned away while the lines arrive
	for i := 7; i <= 10; i++ {
		say(t, ctx, a, "a", i)
	}
	gotA = receiveChat(t, ctx, a, 9, 4)
	checkSaid(t, gotA, "a", 7)
	logins = len(chatLogins(t, ctx, d))
	if err := d.HoldChat(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	gotB = receiveChat(t, ctx, b, 9, 4)
	if !slices.Equal(gotA, gotB) {
		t.Fatalf("a saw %+v, b saw %+v", gotA, gotB)
	}
	if l := waitLogin(t, ctx, d, logins, "b", false); string(l.Since) != `"8"` {
		t.Fatalf("b got back in with since %s, want \"8\"", l.Since)
	}

	for name, sub := range map[string]*client.Subscription{"a": a, "b": b} {
		if st := sub.Stats(); st.Messages != 12 || st.Duplicates != 0 || st.LastID != "12" || st.Reconnects < 2 {
			t.Errorf("%s: stats %+v", name, st)
		}
	}
}

func TestDialects_chatWithoutLoginIsClosed(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{})
	cfg := config(&transport.WebSocket{
		URL: d.ChatURL(),
		// The chat's first frame must be the login; anything else is refused.
		Hello: func(string) ([][]byte, error) { return [][]byte{[]byte(`{"type":"say","text":"hi"}`)}, nil },
		// 4001 means "log in first": reconnecting cannot help.
		CloseClass: func(code int) transport.Class {
			if code == 4001 {
				return transport.Permanent
			}
			return 0
		},
	})
	sub := subscribe(t, cfg)
	_, err := sub.Next(ctx)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != 4001 || te.Class != transport.Permanent {
		t.Fatalf("Next = %v, want a permanent failure with close code 4001", err)
	}
	if st := sub.Stats(); st.State != client.StateFailed || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// ---- board ----

const (
	// boardName is the board the tests follow.
	boardName = "sprint"
	// boardPingTimeout is the board's patience for application pings, and
	// boardHeartbeat the client's ping interval (and its wait for a
	// reply): four pings per timeout, so a loaded machine that delays one
	// or two does not get the link dropped.
	boardPingTimeout = 800 * time.Millisecond
	boardHeartbeat   = 200 * time.Millisecond
	// boardSubscribeReqID is the reqid of the subscribe request. AppPing
	// numbers its pings from 0 on every connection, so the subscribe
	// request takes a reqid far from theirs and Control can tell its
	// reply (the confirmation) from theirs.
	boardSubscribeReqID = 1_000_000
)

// boardHello subscribes to board from the cursor: since is the seq of the
// last card as a JSON number, or null when there is no cursor yet.
func boardHello(board string) func(cursor string) ([][]byte, error) {
	return func(cursor string) ([][]byte, error) {
		var since *int64
		if cursor != "" {
			n, err := strconv.ParseInt(cursor, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cursor %q is not a card seq: %w", cursor, err)
			}
			since = &n
		}
		b, err := json.Marshal(struct {
			Type  string `json:"type"`
			Board string `json:"board"`
			ReqID int    `json:"reqid"`
			Since *int64 `json:"since"`
		}{"subscribe", board, boardSubscribeReqID, since})
		return [][]byte{b}, err
	}
}

// boardControl sorts the board's frames: {"reqid":K,"result":true} is the
// reply to a ping or, for the subscribe request's reqid, the confirmation;
// a reply without "result":true is a refusal; anything else is a card.
func boardControl(frame []byte) (transport.FrameKind, error) {
	var f struct {
		ReqID  *int64          `json:"reqid"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(frame, &f); err != nil || f.ReqID == nil {
		return transport.FrameMessage, nil
	}
	if string(f.Result) != "true" {
		return 0, fmt.Errorf("the board refused request %d: %s", *f.ReqID, f.Error)
	}
	if *f.ReqID == boardSubscribeReqID {
		return transport.FrameAck, nil
	}
	return transport.FrameReply, nil
}

// boardPing is the board's application ping.
func boardPing(n int) []byte { return fmt.Appendf(nil, `{"type":"ping","reqid":%d}`, n) }

// boardTransport is the board's WebSocket with everything but AppPing. A
// card's id is its seq; its event is its type; its data the whole card.
func boardTransport(d *nodeserver.Dialects, board string) *transport.WebSocket {
	return &transport.WebSocket{
		URL:            d.BoardURL(),
		Hello:          boardHello(board),
		Control:        boardControl,
		ConfirmTimeout: 5 * time.Second,
		Decoder:        transport.Fields{ID: "seq", Event: "type", Data: "."}.Decoder(),
	}
}

// boardConfig is config with the board's heartbeat. With AppPing the
// Timeout must not exceed the Interval: application pings go out every
// max(Interval, Timeout), not every Interval.
func boardConfig(ws *transport.WebSocket) client.Config {
	cfg := config(ws)
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = boardHeartbeat, boardHeartbeat
	return cfg
}

// boardCard is a card as the board sends it.
type boardCard struct {
	Type  string `json:"type"`
	Seq   int64  `json:"seq"`
	Board string `json:"board"`
	Text  string `json:"text"`
}

// publishCard publishes a card to boardName and returns its seq.
func publishCard(t *testing.T, ctx context.Context, d *nodeserver.Dialects, text string) int64 {
	t.Helper()
	seq, err := d.PublishCard(ctx, boardName, text)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// receiveCard reads one message, which must be card seq with text.
func receiveCard(t *testing.T, ctx context.Context, sub *client.Subscription, seq int64, text string) {
	t.Helper()
	m := receive(t, ctx, sub, 1)[0]
	var c boardCard
	if err := json.Unmarshal(m.Data, &c); err != nil {
		t.Fatalf("message %+v: %v", m, err)
	}
	want := boardCard{"card", seq, boardName, text}
	if m.ID != strconv.FormatInt(seq, 10) || m.Event != "card" || c != want {
		t.Fatalf("message %+v with data %s, want %+v", m, m.Data, want)
	}
}

func boardStats(t *testing.T, ctx context.Context, d *nodeserver.Dialects) nodeserver.BoardStats {
	t.Helper()
	st, err := d.BoardStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDialects_boardAppPingKeepsTheLink(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{BoardPingTimeout: boardPingTimeout})
	ws := boardTransport(d, boardName)
	ws.AppPing = boardPing
	sub := subscribe(t, boardConfig(ws))
	// Open waits for the confirmation, so once connected the server has
	// the subscription and a card published now reaches it.
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventConnected })
	start := time.Now()

	// Four cards, each followed by at least a ping timeout (five more
	// pings, 200ms apart) with nothing but pings and their replies on the
	// link.
	var seq int64
	for i := range 4 {
		text := fmt.Sprintf("card %d", i)
		seq = publishCard(t, ctx, d, text)
		receiveCard(t, ctx, sub, seq, text)
		bs := boardStats(t, ctx, d)
		pings := bs.Pings
		what := func() string {
			return fmt.Sprintf("five pings after %d; board %+v; client %+v", pings, bs, sub.Stats())
		}
		waitUntil(t, ctx, what, func() (bool, error) {
			var err error
			bs, err = d.BoardStats(ctx)
			return bs.Pings >= pings+5, err
		})
	}
	if elapsed := time.Since(start); elapsed < 4*boardPingTimeout {
		t.Fatalf("only %v elapsed", elapsed)
	}
	if st := sub.Stats(); st.Reconnects != 0 || st.Messages != 4 || st.LastID != strconv.FormatInt(seq, 10) {
		t.Fatalf("stats %+v", st)
	}
	bs := boardStats(t, ctx, d)
	if bs.Timeouts != 0 || bs.Connections != 1 || bs.Open != 1 || len(bs.Subscribes) != 1 || bs.Subscribes[0].Since != nil {
		t.Fatalf("board stats %+v", bs)
	}

	// Cut the link: the subscription comes back, subscribes with since =
	// the last seq (a number), and misses nothing.
	if _, err := d.DropBoard(ctx); err != nil {
		t.Fatal(err)
	}
	texts := []string{"after the cut 1", "after the cut 2", "after the cut 3"}
	seqs := make([]int64, len(texts))
	for i, text := range texts {
		seqs[i] = publishCard(t, ctx, d, text)
	}
	for i, text := range texts {
		receiveCard(t, ctx, sub, seqs[i], text)
	}
	if st := sub.Stats(); st.Reconnects != 1 || st.Duplicates != 0 || st.Messages != 7 {
		t.Fatalf("stats %+v", st)
	}
	bs = boardStats(t, ctx, d)
	if len(bs.Subscribes) != 2 || bs.Subscribes[1].Since == nil || *bs.Subscribes[1].Since != seq || bs.Timeouts != 0 {
		t.Fatalf("board stats %+v, want a second subscribe since %d", bs, seq)
	}
}

func TestDialects_boardWithoutAppPingIsDropped(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{BoardPingTimeout: boardPingTimeout})
	// The same client without AppPing: its protocol pings keep the
	// connection alive as far as TCP and ws go, but the board wants its
	// own pings and closes the link after its timeout.
	sub := subscribe(t, boardConfig(boardTransport(d, boardName)))
	start := time.Now()
	e := waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventDisconnected })
	var te *transport.Error
	if !errors.As(e.Err, &te) || te.StatusCode != 4000 || te.Class != transport.Transient {
		t.Fatalf("disconnected because of %v, want the board's close code 4000", e.Err)
	}
	if elapsed := time.Since(start); elapsed < boardPingTimeout {
		t.Fatalf("dropped after %v, before the ping timeout of %v", elapsed, boardPingTimeout)
	}
	if bs := boardStats(t, ctx, d); bs.Timeouts < 1 || bs.Pings != 0 {
		t.Fatalf("board stats %+v", bs)
	}
}

func TestDialects_boardRefusedSubscribeFails(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{})
	ws := boardTransport(d, "") // the board answers "result":false
	ws.AppPing = boardPing
	sub := subscribe(t, boardConfig(ws))
	_, err := sub.Next(ctx)
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.Permanent || te.Op != "open" {
		t.Fatalf("Next = %v, want the refusal as a permanent failure to open", err)
	}
	if st := sub.Stats(); st.State != client.StateFailed || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// ---- feed ----

// feedItem is one published item of the feed.
type feedItem struct {
	u       int64
	kind    string
	payload string
}

// feedLog publishes items and checks them off as a subscription receives
// them.
type feedLog struct {
	t     *testing.T
	d     *nodeserver.Dialects
	items []feedItem
	next  int // index of the next item to receive
}

// publish publishes n items, alternating trades and quotes.
func (f *feedLog) publish(ctx context.Context, n int) {
	f.t.Helper()
	for range n {
		i := len(f.items)
		kind := [...]string{"trade", "quote"}[i%2]
		payload := fmt.Sprintf(`{"px":"%d.50","qty":%d,"venue":"x"}`, 100+i, i+1)
		u, err := f.d.PublishFeed(ctx, kind, json.RawMessage(payload))
		if err != nil {
			f.t.Fatal(err)
		}
		if want := int64(1001 + i); u != want {
			f.t.Fatalf("published u %d, want %d", u, want)
		}
		f.items = append(f.items, feedItem{u, kind, payload})
	}
}

// receive reads every item published and not yet received, in order, each
// of them over tr.
func (f *feedLog) receive(ctx context.Context, sub *client.Subscription, tr string) {
	f.t.Helper()
	want := f.items[f.next:]
	got := receive(f.t, ctx, sub, len(want))
	for i, m := range got {
		w := want[i]
		if m.ID != strconv.FormatInt(w.u, 10) || m.Event != w.kind || string(m.Data) != w.payload || m.Transport != tr {
			f.t.Fatalf("message %+v with data %s, want %+v over %s", m, m.Data, w, tr)
		}
	}
	f.next = len(f.items)
}

func TestDialects_feedLadderWithCustomFieldsAndCursor(t *testing.T) {
	ctx := dialectCtx(t)
	d := startDialects(t, nodeserver.DialectOptions{FeedHold: hold})
	cfg := config(
		&transport.WebSocket{URL: d.FeedWebSocketURL(), CursorParam: "after"},
		&transport.LongPoll{URL: d.FeedLongPollURL(), CursorParam: "after", Hold: hold},
	)
	cfg.Decoder = transport.Fields{ID: "u", Event: "kind", Data: "payload"}.Decoder()
	cfg.UpgradeInterval = 50 * time.Millisecond
	sub := subscribe(t, cfg)
	f := &feedLog{t: t, d: d}
	// No cursor yet: the feed starts with the next item, so wait until
	// the WebSocket is open (the server registers it before answering the
	// upgrade).
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventConnected })

	f.publish(ctx, 4)
	f.receive(ctx, sub, transport.NameWebSocket)

	// A cut WebSocket resumes with ?after=.
	if _, err := d.DropFeed(ctx); err != nil {
		t.Fatal(err)
	}
	f.publish(ctx, 3)
	f.receive(ctx, sub, transport.NameWebSocket)

	// WebSocket refused: down to long polling, which resumes with ?after=
	// too and reads arrays of items.
	if err := d.RefuseFeedWebSocket(ctx, 403); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DropFeed(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, sub, func(e client.Event) bool {
		return e.Kind == client.EventDowngraded && e.To == transport.NameLongPoll
	})
	f.publish(ctx, 4)
	f.receive(ctx, sub, transport.NameLongPoll)
	for range 2 {
		if _, err := d.DropFeed(ctx); err != nil { // a held long poll, cut
			t.Fatal(err)
		}
		f.publish(ctx, 3)
		f.receive(ctx, sub, transport.NameLongPoll)
	}

	// WebSocket back: an upgrade probe moves the subscription up again.
	if err := d.RefuseFeedWebSocket(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, sub, func(e client.Event) bool {
		return e.Kind == client.EventUpgraded && e.To == transport.NameWebSocket
	})
	f.publish(ctx, 3)
	f.receive(ctx, sub, transport.NameWebSocket)
	if _, err := d.DropFeed(ctx); err != nil {
		t.Fatal(err)
	}
	f.publish(ctx, 2)
	f.receive(ctx, sub, transport.NameWebSocket)

	last := strconv.FormatInt(f.items[len(f.items)-1].u, 10)
	if st := sub.Stats(); st.Messages != uint64(len(f.items)) || st.Duplicates != 0 || st.LastID != last ||
		st.Downgrades != 1 || st.Upgrades != 1 || st.Reconnects < 3 {
		t.Fatalf("stats %+v", st)
	}
	// The cursor always travelled as ?after=, never as the default ?since=,
	// on both transports.
	reqs, err := d.FeedRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	withAfter := map[string]int{}
	for _, r := range reqs {
		if _, ok := r.Query["since"]; ok {
			t.Fatalf("request %+v carries since", r)
		}
		if _, ok := r.Query["after"]; ok {
			withAfter[r.Path]++
		}
	}
	if withAfter[nodeserver.PathFeedWS] < 3 || withAfter[nodeserver.PathFeedLongPoll] < 3 {
		t.Fatalf("requests with after: %v of %d", withAfter, len(reqs))
	}
}

// ---- the servers themselves, without the SDK ----

// rawWS dials url with a bare WebSocket client.
func rawWS(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: plain(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func rawWrite(t *testing.T, ctx context.Context, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// rawRead reads frames and fails unless they are want, in order.
func rawRead(t *testing.T, ctx context.Context, c *websocket.Conn, want ...string) {
	t.Helper()
	for _, w := range want {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading, want %s: %v", w, err)
		}
		if string(b) != w {
			t.Fatalf("frame %s, want %s", b, w)
		}
	}
}

// rawClosed reads until the server closes c and returns its close code.
func rawClosed(t *testing.T, ctx context.Context, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			return websocket.CloseStatus(err)
		}
		t.Logf("frame before the close: %s", b)
	}
}

// TestDialects_servers checks the wire protocols of dialects.js with bare
// clients, so that a failure of the SDK tests above points at the SDK.
func TestDialects_servers(t *testing.T) {
	t.Run("chat", func(t *testing.T) {
		ctx := dialectCtx(t)
		d := startDialects(t, nodeserver.DialectOptions{})
		bad := rawWS(t, ctx, d.ChatURL())
		rawWrite(t, ctx, bad, `{"type":"say","text":"hi"}`)
		if code := rawClosed(t, ctx, bad); code != 4001 {
			t.Fatalf("first frame not a login: close code %d, want 4001", code)
		}
		a := rawWS(t, ctx, d.ChatURL())
		rawWrite(t, ctx, a, `{"type":"login","user":"a"}`)
		lurker := rawWS(t, ctx, d.ChatURL()) // never logs in, so gets nothing
		rawWrite(t, ctx, a, `{"type":"say","text":"one","cid":"c1"}`)
		rawWrite(t, ctx, a, `{"type":"say","text":"two","cid":"c2"}`)
		rawRead(t, ctx, a, `{"id":1,"user":"a","text":"one","cid":"c1"}`, `{"id":2,"user":"a","text":"two","cid":"c2"}`)
		rawWrite(t, ctx, lurker, `{"type":"login","user":"b","since":"1"}`)
		rawRead(t, ctx, lurker, `{"id":2,"user":"a","text":"two","cid":"c2"}`)
		if err := d.HoldChat(ctx, "c", true); err != nil {
			t.Fatal(err)
		}
		held := rawWS(t, ctx, d.ChatURL())
		rawWrite(t, ctx, held, `{"type":"login","user":"c","since":0}`)
		if code := rawClosed(t, ctx, held); code != websocket.StatusTryAgainLater {
			t.Fatalf("held login: close code %d", code)
		}
		if n, err := d.DropChat(ctx); err != nil || n < 2 { // a and b, and maybe c still closing
			t.Fatalf("DropChat = %d, %v", n, err)
		}
		ls := chatLogins(t, ctx, d)
		if len(ls) != 3 || ls[0].User != "a" || ls[0].Since != nil || string(ls[1].Since) != `"1"` ||
			!ls[2].Refused || string(ls[2].Since) != "0" {
			t.Fatalf("logins %+v", ls)
		}
	})

	t.Run("board", func(t *testing.T) {
		ctx := dialectCtx(t)
		d := startDialects(t, nodeserver.DialectOptions{BoardPingTimeout: boardPingTimeout})
		publishCard(t, ctx, d, "old")
		c := rawWS(t, ctx, d.BoardURL())
		rawWrite(t, ctx, c, `{"type":"subscribe","board":"sprint","reqid":7,"since":0}`)
		rawRead(t, ctx, c, `{"reqid":7,"result":true}`, `{"type":"card","seq":1,"board":"sprint","text":"old"}`)
		rawWrite(t, ctx, c, `{"type":"ping","reqid":0}`)
		rawRead(t, ctx, c, `{"reqid":0,"result":true}`)
		publishCard(t, ctx, d, "new")
		if _, err := d.PublishCard(ctx, "other", "elsewhere"); err != nil {
			t.Fatal(err)
		}
		rawRead(t, ctx, c, `{"type":"card","seq":2,"board":"sprint","text":"new"}`)
		rawWrite(t, ctx, c, `{"type":"subscribe","board":"other","reqid":8,"since":"1"}`)
		rawRead(t, ctx, c, `{"reqid":8,"result":false,"error":"subscribe needs a board and a numeric since or null"}`)
		start := time.Now()
		if code := rawClosed(t, ctx, c); code != 4000 {
			t.Fatalf("no pings: close code %d, want 4000", code)
		}
		if elapsed := time.Since(start); elapsed > 3*boardPingTimeout {
			t.Fatalf("closed %v after the last ping, timeout %v", elapsed, boardPingTimeout)
		}
		if bs := boardStats(t, ctx, d); bs.Pings != 1 || bs.Timeouts != 1 || bs.Connections != 1 || len(bs.Subscribes) != 1 {
			t.Fatalf("board stats %+v", bs)
		}
	})

	t.Run("feed", func(t *testing.T) {
		ctx := dialectCtx(t)
		d := startDialects(t, nodeserver.DialectOptions{FeedHold: hold})
		live := rawWS(t, ctx, d.FeedWebSocketURL()) // no after: from the next item
		f := &feedLog{t: t, d: d}
		f.publish(ctx, 3)
		rawRead(t, ctx, live,
			`{"u":1001,"kind":"trade","payload":{"px":"100.50","qty":1,"venue":"x"}}`,
			`{"u":1002,"kind":"quote","payload":{"px":"101.50","qty":2,"venue":"x"}}`,
			`{"u":1003,"kind":"trade","payload":{"px":"102.50","qty":3,"venue":"x"}}`)
		resumed := rawWS(t, ctx, d.FeedWebSocketURL()+"?after=1002")
		rawRead(t, ctx, resumed, `{"u":1003,"kind":"trade","payload":{"px":"102.50","qty":3,"venue":"x"}}`)
		_, body, err := get(ctx, plain(0), d.FeedLongPollURL()+"?after=1001")
		if err != nil {
			t.Fatal(err)
		}
		if want := `[{"u":1002,"kind":"quote","payload":{"px":"101.50","qty":2,"venue":"x"}},` +
			`{"u":1003,"kind":"trade","payload":{"px":"102.50","qty":3,"venue":"x"}}]`; string(body) != want {
			t.Fatalf("long poll after 1001: %s", body)
		}
		_, body, err = get(ctx, plain(0), d.FeedLongPollURL()+"?after=1003") // held, then empty
		if err != nil || string(body) != "[]" {
			t.Fatalf("long poll with nothing new: %q, %v", body, err)
		}
		if err := d.RefuseFeedWebSocket(ctx, 403); err != nil {
			t.Fatal(err)
		}
		if _, resp, err := websocket.Dial(ctx, d.FeedWebSocketURL(), &websocket.DialOptions{HTTPClient: plain(0)}); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("refused upgrade: %v", err)
		}
		if n, err := d.DropFeed(ctx); err != nil || n < 2 {
			t.Fatalf("DropFeed = %d, %v", n, err)
		}
		if code := rawClosed(t, ctx, live); code != -1 {
			t.Fatalf("dropped connection closed with code %d, want none", code)
		}
	})
}
