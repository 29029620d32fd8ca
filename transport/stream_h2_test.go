package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1 signed by its own key, and
// the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "anysub test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// connCounter counts the connections a server accepts.
type connCounter struct {
	mu sync.Mutex
	n  int
}

func (c *connCounter) track(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// protoServer serves a stream on /stream, a poll on /poll and accepts POSTs
// on /in, and records the protocol of every request.
type protoServer struct {
	streamServer
	mu     sync.Mutex
	protos []string
}

func newProtoServer() *protoServer {
	p := &protoServer{}
	p.parts = fixedParts(`{"id":"1","data":"a"}`, "\n", `{"id":"2","data":"b"}`)
	return p
}

func (p *protoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.protos = append(p.protos, r.Method+" "+r.URL.Path+" "+r.Proto)
	p.mu.Unlock()
	if r.URL.Path == "/poll" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"id":"p1","data":1}]`))
		return
	}
	p.streamServer.ServeHTTP(w, r)
}

func (p *protoServer) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.protos...)
}

// useAll opens a stream, reads its two messages, sends twice and polls
// once, all with client.
func useAll(t *testing.T, h *HTTPStream, client *http.Client, pollURL string) {
	t.Helper()
	s := openStream(t, h, Request{HTTPClient: client})
	if got := render(nextN(t, s, 2)); got != `{1||"a"}{2||"b"}` {
		t.Fatalf("got %s", got)
	}
	for i := range 2 {
		if err := s.(Sender).Send(context.Background(), []byte(`{"n":1}`), ""); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if pollURL != "" {
		p, err := (&Poll{URL: pollURL}).Open(context.Background(), Request{HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := p.Next(context.Background()); err != nil || m.ID != "p1" {
			t.Fatalf("poll: %v %v", m, err)
		}
		p.Close()
	}
	s.Close()
}

// TestHTTPStream_http2TLS: over TLS, a user's client whose transport
// negotiates HTTP/2 (a clone of http.DefaultTransport trusting a
// self-signed certificate through RootCAs) carries the stream, its Sends
// and a Poll of the same origin on one HTTP/2 connection.
func TestHTTPStream_http2TLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ps := newProtoServer()
	var conns connCounter
	srv := httptest.NewUnstartedServer(ps)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ConnState = conns.track
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	client := &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	useAll(t, &HTTPStream{URL: srv.URL + "/stream", SendURL: srv.URL + "/in"}, client, srv.URL+"/poll")
	want := []string{"GET /stream HTTP/2.0", "POST /in HTTP/2.0", "POST /in HTTP/2.0", "GET /poll HTTP/2.0"}
	if got := ps.seen(); !equalStrings(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	if n := conns.count(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	// The same certificate not trusted: a permanent failure.
	_, err := (&HTTPStream{URL: srv.URL + "/stream"}).Open(context.Background(), Request{})
	if ClassOf(err) != Permanent {
		t.Fatalf("untrusted certificate: %v, want a permanent error", err)
	}
}

// h2cServer starts a server that speaks HTTP/1.1 and cleartext HTTP/2.
func h2cServer(t *testing.T, h http.Handler, conns *connCounter) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ConnState = conns.track
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestHTTPStream_h2c: with H2C, the stream and its Sends go over one
// cleartext HTTP/2 connection made for the stream, which Close releases
// (the package's leak check would see its goroutines otherwise). Without
// it, the same server is spoken to in HTTP/1.1.
func TestHTTPStream_h2c(t *testing.T) {
	ps := newProtoServer()
	var conns connCounter
	srv := h2cServer(t, ps, &conns)

	useAll(t, &HTTPStream{URL: srv.URL + "/stream", SendURL: srv.URL + "/in", H2C: true}, nil, "")
	want := []string{"GET /stream HTTP/2.0", "POST /in HTTP/2.0", "POST /in HTTP/2.0"}
	if got := ps.seen(); !equalStrings(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	if n := conns.count(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	s := openStream(t, &HTTPStream{URL: srv.URL + "/stream"}, Request{HTTPClient: plain})
	nextN(t, s, 1)
	if got := ps.seen()[3]; got != "GET /stream HTTP/1.1" {
		t.Fatalf("without H2C: %s", got)
	}

	odd := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, errors.New("unused") })}
	if _, err := (&HTTPStream{URL: srv.URL, H2C: true}).Open(context.Background(), Request{HTTPClient: odd}); ClassOf(err) != Permanent {
		t.Fatalf("H2C over a custom RoundTripper: %v, want a permanent error", err)
	}
}

// TestHTTPStream_h2cSharedClient: a client whose transport speaks cleartext
// HTTP/2 only, shared by the stream and a Poll (as Config.HTTPClient shares
// it between rungs), carries both on one connection; H2C uses it as it is.
func TestHTTPStream_h2cSharedClient(t *testing.T) {
	ps := newProtoServer()
	var conns connCounter
	srv := h2cServer(t, ps, &conns)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)

	useAll(t, &HTTPStream{URL: srv.URL + "/stream", SendURL: srv.URL + "/in", H2C: true}, &http.Client{Transport: tr}, srv.URL+"/poll")
	want := []string{"GET /stream HTTP/2.0", "POST /in HTTP/2.0", "POST /in HTTP/2.0", "GET /poll HTTP/2.0"}
	if got := ps.seen(); !equalStrings(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	if n := conns.count(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
