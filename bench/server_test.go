package bench

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// server speaks every wire format over the same message source:
//
//	/ws    WebSocket, one text frame per message (a hand-written writer of
//	       pre-built frames, so that the server costs far less than any client)
//	/sse   text/event-stream
//	/stream  an HTTP stream of newline-delimited JSON envelopes
//	/long  long polling: a JSON array of up to 100 messages after since,
//	       held open while there is none
//	/poll  polling: the same, answered at once (an empty array when none)
//
// Query parameters: n, the last id to send (messages since+1..n, never
// ending the stream on its own); since, the cursor (Last-Event-ID for SSE);
// stall=k, on a connection without cursor send k messages and then nothing,
// not even pongs; refuse=1, answer /ws with 404. With a feed, messages are
// sent as the feed publishes them.
type server struct {
	*httptest.Server
	feed *feed
	wg   sync.WaitGroup // hijacked WebSocket connections
}

func newServer(tb testing.TB, f *feed) *server {
	tb.Helper()
	s := &server{feed: f}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.ws)
	mux.HandleFunc("/sse", s.sse)
	mux.HandleFunc("/stream", s.stream)
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) { s.poll(w, r, true) })
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) { s.poll(w, r, false) })
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(func() {
		s.CloseClientConnections()
		s.Close()
		s.wg.Wait()
	})
	return s
}

type params struct {
	since, n, stall int
	text            string // msgText, or msgText4K with size=4k
}

func parse(r *http.Request) params {
	q := r.URL.Query()
	p := params{}
	p.since, _ = strconv.Atoi(q.Get("since"))
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		p.since, _ = strconv.Atoi(id)
	}
	p.n, _ = strconv.Atoi(q.Get("n"))
	p.text = msgText
	if q.Get("size") == "4k" {
		p.text = msgText4K
	}
	if q.Get("since") == "" && r.Header.Get("Last-Event-ID") == "" {
		p.stall, _ = strconv.Atoi(q.Get("stall"))
	}
	return p
}

// next returns the last id to send now after `after`, blocking on the feed
// if there is one; 0 when the connection should go quiet for good.
func (s *server) next(ctx context.Context, p params, after int) int {
	limit := p.n
	if p.stall > 0 {
		limit = min(limit, p.stall)
	}
	if after >= limit {
		return 0
	}
	if s.feed != nil {
		return min(s.feed.wait(ctx, after), limit)
	}
	return limit
}

func (s *server) ws(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("refuse") != "" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "no WebSocket here", http.StatusNotFound)
		return
	}
	h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	p := parse(r)
	s.wg.Add(1)
	defer s.wg.Done()
	c := &wsConn{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), done: make(chan struct{})}
	c.w.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n")
	c.w.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { c.readLoop(brw.Reader, p.stall == 0); cancel() }()
	defer func() { conn.Close(); <-c.done }()
	var frame []byte
	for sent := p.since; ; {
		last := s.next(ctx, p, sent)
		if last == 0 {
			<-ctx.Done()
			return
		}
		c.mu.Lock()
		for i := sent + 1; i <= last; i++ {
			frame = appendEnvelopeText(frame[:0], i, p.text)
			c.frame(0x1, frame)
		}
		err := c.w.Flush()
		c.mu.Unlock()
		if err != nil {
			return
		}
		sent = last
	}
}

// wsConn is the server side of one hand-written WebSocket connection.
type wsConn struct {
	conn net.Conn
	mu   sync.Mutex // guards w
	w    *bufio.Writer
	done chan struct{}
}

// frame writes one unmasked frame with FIN set; the caller holds mu.
func (c *wsConn) frame(op byte, payload []byte) {
	var hdr [10]byte
	hdr[0] = 0x80 | op
	n := 2
	switch l := len(payload); {
	case l < 126:
		hdr[1] = byte(l)
	case l < 1<<16:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(l))
		n = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(l))
		n = 10
	}
	c.w.Write(hdr[:n])
	c.w.Write(payload)
}

// readLoop reads the client's frames: it answers pings (when pong is set)
// and echoes a close, after which it closes the connection.
func (c *wsConn) readLoop(r *bufio.Reader, pong bool) {
	defer close(c.done)
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		l := uint64(hdr[1] & 0x7f)
		switch l {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return
			}
			l = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return
			}
			l = binary.BigEndian.Uint64(b[:])
		}
		var mask [4]byte
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return
		}
		payload := make([]byte, l)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
		switch hdr[0] & 0x0f {
		case 0x8: // close: echo it and hang up
			c.mu.Lock()
			c.frame(0x8, payload)
			c.w.Flush()
			c.mu.Unlock()
			c.conn.Close()
			return
		case 0x9:
			if pong {
				c.mu.Lock()
				c.frame(0xA, payload)
				c.w.Flush()
				c.mu.Unlock()
			}
		}
	}
}

func (s *server) sse(w http.ResponseWriter, r *http.Request) {
	p := parse(r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	bw := bufio.NewWriterSize(w, 32<<10)
	var ev []byte
	for sent := p.since; ; {
		last := s.next(r.Context(), p, sent)
		if last == 0 {
			<-r.Context().Done()
			return
		}
		for i := sent + 1; i <= last; i++ {
			ev = appendSSE(ev[:0], i, p.text)
			bw.Write(ev)
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
		sent = last
	}
}

// pollBatch is the most messages one poll or long-poll answer carries.
const pollBatch = 100

func (s *server) poll(w http.ResponseWriter, r *http.Request, hold bool) {
	p := parse(r)
	last := p.n
	if s.feed != nil && p.since < p.n {
		if hold {
			last = s.feed.wait(r.Context(), p.since)
		} else {
			s.feed.mu.Lock()
			last = s.feed.n
			s.feed.mu.Unlock()
		}
	}
	if hold && last <= p.since {
		<-r.Context().Done()
		return
	}
	last = min(last, p.since+pollBatch, p.n)
	body := []byte{'['}
	for i := p.since + 1; i <= last; i++ {
		if i > p.since+1 {
			body = append(body, ',')
		}
		body = appendEnvelopeText(body, i, p.text)
	}
	body = append(body, ']')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
