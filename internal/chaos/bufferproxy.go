//go:build chaos

package chaos

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultHoldBytes is how much of an event stream BufferProxy holds back
// before it lets any of it through: 64 KiB, the order of nginx's
// proxy_buffers.
const DefaultHoldBytes = 64 << 10

// BufferProxy is a reverse proxy that behaves like nginx with
// proxy_buffering on in front of an SSE endpoint: it forwards the response
// headers of a text/event-stream answer at once, then holds the body's
// bytes (events and keep-alive comments alike) until Hold of them have
// accumulated, and only then passes that chunk on. Every other response is
// passed through unchanged. Toxiproxy cannot do this, since it works on TCP
// and knows nothing of where headers end, hence this small in-process proxy.
//
// A subscriber behind it sees an SSE stream that opened and then says
// nothing, which only its liveness deadline can catch.
type BufferProxy struct {
	Upstream string // "http://host:port" of the real server
	Hold     int    // bytes held back; 0 means DefaultHoldBytes

	srv      *http.Server
	ln       net.Listener
	hc       *http.Client
	wg       sync.WaitGroup
	streams  atomic.Int64 // event streams opened through the proxy
	released atomic.Int64 // chunks of held bytes let through
}

// StartBufferProxy listens on a free loopback port and serves until Close.
func StartBufferProxy(upstream string, hold int) (*BufferProxy, error) {
	if hold <= 0 {
		hold = DefaultHoldBytes
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &BufferProxy{
		Upstream: upstream,
		Hold:     hold,
		ln:       ln,
		hc:       &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// URL is the proxy's http URL followed by path.
func (p *BufferProxy) URL(path string) string { return "http://" + p.ln.Addr().String() + path }

// Streams is how many event streams have been opened through the proxy.
func (p *BufferProxy) Streams() int64 { return p.streams.Load() }

// Released is how many held chunks have been let through.
func (p *BufferProxy) Released() int64 { return p.released.Load() }

// Close stops the proxy, cuts every open response and waits for its
// goroutines.
func (p *BufferProxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no graceful wait: held streams never finish on their own
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
	p.wg.Wait()
	p.hc.CloseIdleConnections()
	return nil
}

func (p *BufferProxy) serve(w http.ResponseWriter, r *http.Request) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.Upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		if !hopHeader(k) {
			out.Header[k] = v
		}
	}
	resp, err := p.hc.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if !hopHeader(k) {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	p.streams.Add(1)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush() // the headers go at once, as nginx sends them
	}
	held := make([]byte, 0, p.Hold)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		held = append(held, buf[:n]...)
		for len(held) >= p.Hold {
			if _, werr := w.Write(held[:p.Hold]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			p.released.Add(1)
			held = append(held[:0], held[p.Hold:]...)
		}
		if err != nil {
			if err == io.EOF && len(held) > 0 { // the upstream ended: nginx flushes what it holds
				_, _ = w.Write(held)
			}
			return
		}
	}
}

// hopHeader reports whether a header belongs to one hop only.
func hopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
