package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/backoff"
	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	r3 "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	cbackoff "gopkg.in/cenkalti/backoff.v1"
)

// receiver is one client under measurement. run connects to url and calls
// fn for each message until fn returns false or n messages came; id is
// empty for clients that do not parse the envelope (data is then the whole
// frame). data may be reused after fn returns.
type receiver struct {
	name string
	run  func(ctx context.Context, url string, n int, fn func(id string, data []byte) bool) error
}

// wire describes one wire format: its path and its rows, baseline first.
type wire struct {
	name      string
	path      string
	receivers []receiver
}

// pollInterval is the pause anysub's Poll and the raw polling loop leave
// between requests in the throughput benchmarks.
const pollInterval = time.Microsecond

var wires = []wire{
	{name: "WebSocket", path: "/ws", receivers: []receiver{
		{"coder-Reader", rawCoderReader},
		{"coder-Read", rawCoderRead},
		{"gorilla", gorillaClient},
		{"anysub-transport", anysubStream(func(u string) transport.Transport { return &transport.WebSocket{URL: u} })},
		{"anysub", anysubClient(func(u string) transport.Transport { return &transport.WebSocket{URL: u} })},
	}},
	{name: "SSE", path: "/sse", receivers: []receiver{
		{"go-sse", rawGoSSE},
		{"lineparser", lineParser},
		{"r3labs", r3labsClient},
		{"anysub-transport", anysubStream(func(u string) transport.Transport { return &transport.SSE{URL: u} })},
		{"anysub", anysubClient(func(u string) transport.Transport { return &transport.SSE{URL: u} })},
	}},
	streamWire,
	{name: "LongPoll", path: "/long", receivers: []receiver{
		{"nethttp", rawPollLoop},
		{"lean", leanPollLoop},
		{"anysub", anysubClient(func(u string) transport.Transport { return &transport.LongPoll{URL: u} })},
	}},
	{name: "Poll", path: "/poll", receivers: []receiver{
		{"nethttp", rawPollLoop},
		{"anysub", anysubClient(func(u string) transport.Transport { return &transport.Poll{URL: u, Interval: pollInterval} })},
	}},
}

// newHTTPClient returns a client with a transport of its own, so that no
// row inherits another's pooled connections.
func newHTTPClient() *http.Client { return &http.Client{Transport: &http.Transport{}} }

// anysubConfig is the configuration every anysub row uses: one transport,
// no upgrade probing (there is nothing above it), a quick backoff.
func anysubConfig(trs ...transport.Transport) client.Config {
	return client.Config{
		Transports:      trs,
		UpgradeInterval: -1,
		Backoff:         backoff.Exponential{Initial: 10 * time.Millisecond, Jitter: -1},
	}
}

func anysubClient(mk func(string) transport.Transport) func(context.Context, string, int, func(string, []byte) bool) error {
	return func(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
		hc := newHTTPClient()
		defer hc.CloseIdleConnections()
		cfg := anysubConfig(mk(url))
		cfg.HTTPClient = hc
		sub, err := client.Subscribe(ctx, cfg)
		if err != nil {
			return err
		}
		defer sub.Close()
		for range n {
			m, err := sub.Next(ctx)
			if err != nil {
				return err
			}
			if !fn(m.ID, m.Data) {
				return nil
			}
		}
		return nil
	}
}

// anysubStream reads a transport's stream alone, the way the client does:
// through Push when the stream offers it, otherwise through Next.
func anysubStream(mk func(string) transport.Transport) func(context.Context, string, int, func(string, []byte) bool) error {
	return func(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
		hc := newHTTPClient()
		defer hc.CloseIdleConnections()
		s, err := mk(url).Open(ctx, transport.Request{HTTPClient: hc})
		if err != nil {
			return err
		}
		defer s.Close()
		if p, ok := s.(transport.Pusher); ok {
			i, done := 0, false
			err := p.Push(func(m transport.Message) bool {
				i++
				done = !fn(m.ID, m.Data) || i == n
				return !done
			})
			if done {
				return nil
			}
			return err
		}
		for range n {
			m, err := s.Next(context.Background())
			if err != nil {
				return err
			}
			if !fn(m.ID, m.Data) {
				return nil
			}
		}
		return nil
	}
}

func wsURL(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

// rawCoderReader is coder/websocket's fastest path: Reader with a reused
// buffer and a context that never ends.
func rawCoderReader(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c, _, err := websocket.Dial(ctx, wsURL(url), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(transport.DefaultMaxMessageSize)
	var buf bytes.Buffer
	for range n {
		_, r, err := c.Reader(context.Background())
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		if !fn("", buf.Bytes()) {
			break
		}
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// rawCoderRead is the usual coder/websocket loop: Read with a cancellable ctx.
func rawCoderRead(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c, _, err := websocket.Dial(ctx, wsURL(url), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(transport.DefaultMaxMessageSize)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range n {
		_, data, err := c.Read(rctx)
		if err != nil {
			return err
		}
		if !fn("", data) {
			break
		}
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

func gorillaClient(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	c, _, err := gorilla.DefaultDialer.DialContext(ctx, wsURL(url), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	for range n {
		_, data, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if !fn("", data) {
			break
		}
	}
	return c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

// sseGet opens an event stream with a client of its own.
func sseGet(ctx context.Context, url string) (*http.Response, func(), error) {
	hc := newHTTPClient()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	return resp, func() { resp.Body.Close(); hc.CloseIdleConnections() }, nil
}

// rawGoSSE is go-sse's parser ranging over the body.
func rawGoSSE(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	resp, done, err := sseGet(ctx, url)
	if err != nil {
		return err
	}
	defer done()
	i := 0
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			return err
		}
		i++
		if !fn(ev.LastEventID, []byte(ev.Data)) || i == n {
			break
		}
	}
	return nil
}

// lineParser is a minimal event-stream parser: the speed of light for SSE.
// It handles id, data and blank lines (enough for this source).
func lineParser(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	resp, done, err := sseGet(ctx, url)
	if err != nil {
		return err
	}
	defer done()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var id, data []byte
	for i := 0; i < n; {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0:
			i++
			if !fn(string(id), data) {
				return nil
			}
			data = data[:0]
		case bytes.HasPrefix(line, []byte("data: ")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, line[6:]...)
		case bytes.HasPrefix(line, []byte("id: ")):
			id = append(id[:0], line[4:]...)
		}
	}
	return nil
}

func r3labsClient(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c := r3.NewClient(url)
	c.Connection = hc
	c.ReconnectStrategy = &cbackoff.StopBackOff{}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	i := 0
	err := c.SubscribeRawWithContext(rctx, func(ev *r3.Event) {
		if i >= n {
			return
		}
		i++
		if !fn(string(ev.ID), ev.Data) || i == n {
			cancel()
		}
	})
	if i == n || rctx.Err() != nil && ctx.Err() == nil {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("stream ended after %d of %d events", i, n)
	}
	return err
}

// rawPollLoop is the loop anyone would write: GET with since, read the
// body, decode it with encoding/json, repeat.
func rawPollLoop(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	return rawPoll(ctx, url, n, 0, fn)
}

// pollEnvelope is a message as the raw polling loop decodes it.
type pollEnvelope struct {
	ID    json.Number     `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// rawPoll polls until n messages came, pausing for pause after a response
// that brought none.
func rawPoll(ctx context.Context, url string, n int, pause time.Duration, fn func(string, []byte) bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	since := ""
	for i := 0; i < n; {
		u := url
		if since != "" {
			u += "&since=" + since
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var list []pollEnvelope
		if err := json.Unmarshal(body, &list); err != nil {
			return err
		}
		for _, e := range list {
			since = e.ID.String()
			i++
			if !fn(since, e.Data) || i == n {
				return nil
			}
		}
		if len(list) == 0 && pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	return nil
}

// leanPollLoop is the lean raw polling loop: net/http, each body read into
// one buffer reused from response to response, and the ids and data cut
// out of it by a scan that knows this source's layout (see leanMessages),
// without encoding/json.
func leanPollLoop(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	var buf bytes.Buffer
	since := ""
	for i := 0; i < n; {
		u := url
		if since != "" {
			u += "&since=" + since
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		stop := false
		err = leanMessages(buf.Bytes(), func(id string, data []byte) bool {
			since = id
			i++
			stop = !fn(id, data) || i == n
			return !stop
		})
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// leanMessages calls fn with the id and data of each envelope of body, a
// JSON array of this source's envelopes: {"id":N,"event":"tick","data":D}
// with D an object that ends the envelope ("}}" closes both, since the text
// holds no "}}" of its own). It checks nothing else.
func leanMessages(body []byte, fn func(id string, data []byte) bool) error {
	const head, dataKey = `{"id":`, `,"data":`
	for {
		k := bytes.Index(body, []byte(head))
		if k < 0 {
			return nil
		}
		body = body[k+len(head):]
		end := bytes.IndexByte(body, ',')
		if end < 0 {
			return fmt.Errorf("lean: no end of the id in %.40q", body)
		}
		id := string(body[:end])
		d := bytes.Index(body, []byte(dataKey))
		if d < 0 {
			return fmt.Errorf("lean: no data after id %s", id)
		}
		body = body[d+len(dataKey):]
		e := bytes.Index(body, []byte(`}}`))
		if e < 0 {
			return fmt.Errorf("lean: no end of the data of id %s", id)
		}
		if !fn(id, body[:e+1]) {
			return nil
		}
		body = body[e+2:]
	}
}

// check returns an error unless message i arrived intact as (id, data).
func check(i int, id string, data []byte) error {
	if id == "" { // a raw WebSocket row: the whole envelope
		if want := appendEnvelope(nil, i); !bytes.Equal(data, want) {
			return fmt.Errorf("message %d: frame %.80q, want %.80q", i, data, want)
		}
		return nil
	}
	if id != strconv.Itoa(i) {
		return fmt.Errorf("message %d: id %q", i, id)
	}
	if want := appendData(nil, i); !bytes.Equal(data, want) {
		return fmt.Errorf("message %d: data %q (%d bytes), want %d bytes", i, data, len(data), len(want))
	}
	return nil
}

var _ = testing.Short
