package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/anysub/anysub/transport"
)

// The hooks must express real protocols, not only anysub's envelope. This
// test follows a server shaped like Centrifugo's unidirectional WebSocket:
// a connect command carrying a two-part position (epoch and offset, typed:
// the offset is a number, absent on the first connect); a reply that
// confirms, says whether the position was recovered, and carries the
// recovered publications in an array; pushes one by one; a "disconnect"
// message meaning "do not reconnect".

// centServer is that server: epoch "e1" with publications at offsets 1..n;
// it can move to a new epoch (its history lost) and send a disconnect.
type centServer struct {
	mu       sync.Mutex
	epoch    string
	pubs     []string
	connects []string // the connect commands received
	conns    []*websocket.Conn
	grew     chan struct{}
}

func (c *centServer) publish(data string) {
	c.mu.Lock()
	c.pubs = append(c.pubs, data)
	close(c.grew)
	c.grew = make(chan struct{})
	c.mu.Unlock()
}

func (c *centServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()
	_, b, err := conn.Read(ctx)
	if err != nil {
		return
	}
	var cmd struct {
		Connect struct {
			Since *struct {
				Epoch  string `json:"epoch"`
				Offset int    `json:"offset"`
			} `json:"since"`
		} `json:"connect"`
	}
	if json.Unmarshal(b, &cmd) != nil {
		conn.Close(3501, "bad request")
		return
	}
	c.mu.Lock()
	c.connects = append(c.connects, string(b))
	c.conns = append(c.conns, conn)
	epoch, next, recovered := c.epoch, 0, false
	if s := cmd.Connect.Since; s != nil && s.Epoch == c.epoch && s.Offset <= len(c.pubs) {
		next, recovered = s.Offset, true
	}
	var recoveredPubs []string
	for i := next; i < len(c.pubs); i++ {
		recoveredPubs = append(recoveredPubs, fmt.Sprintf(`{"offset":%d,"data":%s}`, i+1, c.pubs[i]))
	}
	sent := len(c.pubs)
	c.mu.Unlock()
	reply := fmt.Sprintf(`{"connect":{"epoch":%q,"recovered":%v,"publications":[%s]}}`, epoch, recovered, strings.Join(recoveredPubs, ","))
	if conn.Write(ctx, websocket.MessageText, []byte(reply)) != nil {
		return
	}
	done := make(chan struct{})
	go func() { // read (and so answer pings and closes) until the end
		defer close(done)
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	defer func() {
		conn.CloseNow()
		<-done
	}()
	for {
		c.mu.Lock()
		var push []string
		for ; sent < len(c.pubs); sent++ {
			push = append(push, fmt.Sprintf(`{"push":{"pub":{"offset":%d,"data":%s}}}`, sent+1, c.pubs[sent]))
		}
		grew := c.grew
		c.mu.Unlock()
		for _, p := range push {
			if conn.Write(ctx, websocket.MessageText, []byte(p)) != nil {
				return
			}
		}
		select {
		case <-grew:
		case <-done:
			return
		}
	}
}

// dropAll cuts every connection; newEpoch also forgets the history.
func (c *centServer) dropAll(newEpoch string, disconnect bool) {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	if newEpoch != "" {
		c.epoch, c.pubs = newEpoch, nil
	}
	c.mu.Unlock()
	for _, conn := range conns {
		if disconnect {
			conn.Write(context.Background(), websocket.MessageText, []byte(`{"disconnect":{"code":3501,"reason":"banned","reconnect":false}}`))
		}
		conn.CloseNow()
	}
}

// centProtocol is the client side: the hooks for that protocol. The cursor
// is "epoch:offset".
func centProtocol(url string) *transport.WebSocket {
	type pub struct {
		Offset int             `json:"offset"`
		Data   json.RawMessage `json:"data"`
	}
	var epochMu sync.Mutex
	epoch := "" // the epoch of the current connection, from its connect reply
	return &transport.WebSocket{
		URL: url,
		Hello: func(cursor string) ([][]byte, error) {
			if cursor == "" {
				return [][]byte{[]byte(`{"connect":{}}`)}, nil
			}
			e, off, ok := strings.Cut(cursor, ":")
			if !ok {
				return nil, fmt.Errorf("cursor %q is not epoch:offset", cursor)
			}
			return [][]byte{fmt.Appendf(nil, `{"connect":{"since":{"epoch":%q,"offset":%s}}}`, e, off)}, nil
		},
		ConfirmTimeout: 5e9,
		Control: func(frame []byte) (transport.FrameKind, error) {
			var f struct {
				Connect    *json.RawMessage `json:"connect"`
				Disconnect *struct {
					Reason    string `json:"reason"`
					Reconnect bool   `json:"reconnect"`
				} `json:"disconnect"`
			}
			if json.Unmarshal(frame, &f) != nil {
				return transport.FrameMessage, nil
			}
			switch {
			case f.Disconnect != nil && !f.Disconnect.Reconnect:
				return 0, &transport.Error{Class: transport.Permanent, Err: errors.New("server disconnect: " + f.Disconnect.Reason)}
			case f.Connect != nil:
				return transport.FrameAckMessages, nil
			}
			return transport.FrameMessage, nil
		},
		Decoder: func(frame []byte) ([]transport.Message, error) {
			var f struct {
				Connect *struct {
					Epoch        string `json:"epoch"`
					Recovered    bool   `json:"recovered"`
					Publications []pub  `json:"publications"`
				} `json:"connect"`
				Push *struct {
					Pub pub `json:"pub"`
				} `json:"push"`
			}
			if err := json.Unmarshal(frame, &f); err != nil {
				return nil, err
			}
			epochMu.Lock()
			defer epochMu.Unlock()
			var out []transport.Message
			add := func(p pub) {
				out = append(out, transport.Message{ID: fmt.Sprintf("%s:%d", epoch, p.Offset), Data: append([]byte(nil), p.Data...)})
			}
			switch {
			case f.Connect != nil:
				epoch = f.Connect.Epoch
				if !f.Connect.Recovered {
					out = append(out, transport.Message{Gap: true})
				}
				for _, p := range f.Connect.Publications {
					add(p)
				}
			case f.Push != nil:
				add(f.Push.Pub)
			}
			return out, nil
		},
		CloseClass: func(code int) transport.Class {
			if code >= 3500 && code < 4000 {
				return transport.Permanent
			}
			return 0
		},
	}
}

func TestProtocol_centrifugeLike(t *testing.T) {
	ctx := testCtx(t)
	srv := &centServer{epoch: "e1", grew: make(chan struct{})}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	for i := 1; i <= 3; i++ {
		srv.publish(fmt.Sprintf(`{"n":%d}`, i))
	}
	cfg := testConfig(centProtocol("ws" + strings.TrimPrefix(hs.URL, "http")))
	cfg.EventBuffer = 256
	sub := subscribe(t, cfg)

	ids := func(ms []Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID+"="+string(m.Data))
		}
		return out
	}
	// First connect: no position, so the server cannot say it recovered:
	// a gap is reported, and the history comes in the reply.
	got := ids(receive(t, ctx, sub, 3))
	srv.publish(`{"n":4}`)
	got = append(got, ids(receive(t, ctx, sub, 1))...)
	// A drop: the connect carries e1:4 and everything after it comes back.
	srv.dropAll("", false)
	srv.publish(`{"n":5}`)
	got = append(got, ids(receive(t, ctx, sub, 1))...)
	// The server loses its history (new epoch): the position cannot be
	// recovered, which is a gap, and the new epoch's publications follow.
	srv.dropAll("e2", false)
	srv.publish(`{"n":1}`)
	got = append(got, ids(receive(t, ctx, sub, 1))...)
	want := []string{`e1:1={"n":1}`, `e1:2={"n":2}`, `e1:3={"n":3}`, `e1:4={"n":4}`, `e1:5={"n":5}`, `e2:1={"n":1}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	srv.mu.Lock()
	connects := append([]string(nil), srv.connects...)
	srv.mu.Unlock()
	if len(connects) < 3 || connects[0] != `{"connect":{}}` || !strings.Contains(strings.Join(connects, " "), `{"connect":{"since":{"epoch":"e1","offset":4}}}`) {
		t.Fatalf("connect commands %q", connects)
	}
	if st := sub.Stats(); st.Gaps != 2 || st.Duplicates != 0 {
		t.Fatalf("stats %+v, want two gaps (first connect, lost epoch)", st)
	}

	// A "do not reconnect" disconnect ends the subscription.
	srv.dropAll("", true)
	_, err := sub.Next(ctx)
	if !errors.Is(err, transport.ErrPermanent) || !strings.Contains(err.Error(), "banned") {
		t.Fatalf("Next = %v, want the permanent disconnect", err)
	}
}
