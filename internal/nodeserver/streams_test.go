//go:build interop

package nodeserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/nodeserver"
	"github.com/anysub/anysub/transport"
)

// The tests in this file run the HTTP stream transport and whole-state
// polling against streams.js: Node servers that stream over one long
// response, written the way seed 000 (HTTP/2), CouchDB (_changes) and the
// Kubernetes API server (watch) write them. Each subscription is cut
// (Drop) while messages are published, and must come back with no gap and
// no repeat.

// selfSigned writes a certificate for 127.0.0.1, signed by its own key, and
// the key, as PEM files for node, and returns their paths and the pool that
// trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "anysub interop"},
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
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// startStreams runs streams.js for the test, with a certificate of its own,
// and returns the pool that trusts it.
func startStreams(t *testing.T) (*nodeserver.Streams, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	s, err := nodeserver.StartStreams(testCtx(t), nodeserver.StreamsOptions{CertFile: certFile, KeyFile: keyFile, Stderr: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, pool
}

// streamConfig is config with a heartbeat budget wide enough for servers
// that send nothing between messages (seed 000's, a Kubernetes watch):
// their silence must not cut the stream in the middle of a test.
func streamConfig(trs ...transport.Transport) client.Config {
	cfg := config(trs...)
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 5*time.Second, 5*time.Second
	return cfg
}

// publishFeed publishes texts prefix0, prefix1, ... to feed and returns the
// ids the server gave them.
func publishFeed(t *testing.T, ctx context.Context, s *nodeserver.Streams, feed, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := s.Publish(ctx, feed, fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// dropWhilePublishing cuts every connection of feed, publishes n more
// messages while the subscriber comes back, and returns their ids.
func dropWhilePublishing(t *testing.T, ctx context.Context, s *nodeserver.Streams, sub *client.Subscription, feed, prefix string, n int) []string {
	t.Helper()
	cut := time.Now()
	if dropped, err := s.Drop(ctx, feed); err != nil || dropped == 0 {
		t.Fatalf("drop %s: %d connections, %v", feed, dropped, err)
	}
	ids := publishFeed(t, ctx, s, feed, prefix, n)
	reconnected(t, ctx, sub, cut)
	return ids
}

// receiveIDs reads len(want) messages and fails unless they carry the ids
// of want, in order; it returns them.
func receiveIDs(t *testing.T, ctx context.Context, sub *client.Subscription, want []string) []client.Message {
	t.Helper()
	got := receive(t, ctx, sub, len(want))
	for i, m := range got {
		if m.ID != want[i] || m.Transport != transport.NameStream {
			ids := make([]string, len(got))
			for j, m := range got {
				ids[j] = m.ID
			}
			t.Fatalf("ids %q, want %q", ids, want)
		}
	}
	return got
}

// noMore fails if sub has a message within a short wait: a repeat would
// come right after what it repeats.
func noMore(t *testing.T, sub *client.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if m, err := sub.Next(ctx); err == nil {
		t.Fatalf("an extra message: %+v", m)
	}
	if s := sub.Stats(); s.Gaps != 0 || s.Resets != 0 || s.Skipped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestStreams_seedHTTP2 follows seed 000's HTTP/2 server: over TLS with a
// self-signed certificate trusted through RootCAs, each write is the whole
// state {"msg":[...]} written back to back with the one before, with
// items without ids. With Items and a content Key every item arrives once,
// also after the session is cut and the whole state comes again; Send posts
// with the seed's POST over the same HTTP/2 session.
func TestStreams_seedHTTP2(t *testing.T) {
	s, pool := startStreams(t)
	ctx := dialectCtx(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(tr.CloseIdleConnections)

	publishFeed(t, ctx, s, nodeserver.FeedH2, "before", 3)
	cfg := streamConfig(&transport.HTTPStream{URL: s.H2URL() + nodeserver.PathMsgs})
	cfg.HTTPClient = &http.Client{Transport: tr}
	cfg.Decoder = transport.Fields{Items: "msg", Key: transport.KeyContent}.Decoder()
	sub := subscribe(t, cfg)

	texts := func(n int) []string {
		msgs := receive(t, ctx, sub, n)
		out := make([]string, n)
		for i, m := range msgs {
			var item struct{ User, Text string }
			if err := json.Unmarshal(m.Data, &item); err != nil || m.ID != "" || m.Key == "" {
				t.Fatalf("message %+v: %v", m, err)
			}
			out[i] = item.Text
		}
		return out
	}
	want := []string{"before0", "before1", "before2"}
	if got := texts(3); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Sent lines come back in the stream, as in the seed's page.
	for i := range 2 {
		if err := sub.Send(ctx, []byte(fmt.Sprintf(`{"user":"go","text":"sent%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := texts(2); strings.Join(got, " ") != "sent0 sent1" {
		t.Fatalf("got %q", got)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.H2Sessions != 1 {
		t.Fatalf("%d HTTP/2 sessions for the stream and two sends, want 1", st.H2Sessions)
	}

	publishFeed(t, ctx, s, nodeserver.FeedH2, "during", 3)
	dropWhilePublishing(t, ctx, s, sub, nodeserver.FeedH2, "after", 2)
	want = []string{"during0", "during1", "during2", "after0", "after1"}
	if got := texts(5); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
	noMore(t, sub)
	if sub.Stats().Duplicates == 0 {
		t.Fatal("the whole state came again after the cut, yet no item was dropped as a duplicate")
	}
}

// TestStreams_h2c follows a log over cleartext HTTP/2 with prior
// knowledge (Node's http2.createServer speaks nothing else), resuming with
// since= after the session is cut.
func TestStreams_h2c(t *testing.T) {
	s, _ := startStreams(t)
	ctx := dialectCtx(t)
	first := publishFeed(t, ctx, s, nodeserver.FeedH2C, "a", 3)
	sub := subscribe(t, streamConfig(&transport.HTTPStream{URL: s.H2CURL() + nodeserver.PathLog, Format: transport.FormatJSON, H2C: true}))
	receiveIDs(t, ctx, sub, first)
	second := dropWhilePublishing(t, ctx, s, sub, nodeserver.FeedH2C, "b", 3)
	third := publishFeed(t, ctx, s, nodeserver.FeedH2C, "c", 2)
	receiveIDs(t, ctx, sub, append(second, third...))
	noMore(t, sub)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := st.Requests[nodeserver.FeedH2C]
	if len(reqs) < 2 || reqs[0].Query != "" || reqs[len(reqs)-1].Query != "?since="+first[2] {
		t.Fatalf("requests %+v: want the first without a cursor, the last since %s", reqs, first[2])
	}
}

// couchDecoder reads a continuous _changes line: seq is the id, and the
// closing {"last_seq"} line, which only restates the cursor, is nothing.
func couchDecoder() transport.Decoder {
	changes := transport.Fields{ID: "seq", Data: "."}.Decoder()
	return func(b []byte) ([]transport.Message, error) {
		var end struct {
			LastSeq json.RawMessage `json:"last_seq"`
		}
		if json.Unmarshal(b, &end) == nil && end.LastSeq != nil {
			return nil, nil
		}
		return changes(b)
	}
}

// TestStreams_couchChanges follows an express server in the style of
// CouchDB's continuous _changes feed: one change per line, heartbeat
// newlines (which keep a 200 ms liveness budget satisfied through a quiet
// second), a response that ends with last_seq after a timeout, and the
// opaque seq as the cursor in since=, across responses that end and
// connections that are cut.
func TestStreams_couchChanges(t *testing.T) {
	s, _ := startStreams(t)
	ctx := dialectCtx(t)
	first := publishFeed(t, ctx, s, nodeserver.FeedChanges, "a", 3)
	cfg := config(&transport.HTTPStream{
		URL:    s.URL() + nodeserver.PathChanges + "?feed=continuous&since=0&heartbeat=50&timeout=1500",
		Format: transport.FormatNDJSON,
	})
	cfg.Decoder = couchDecoder()
	sub := subscribe(t, cfg)
	receiveIDs(t, ctx, sub, first)

	// A quiet second: heartbeats only, no reconnection.
	quiet := time.NewTimer(time.Second)
	<-quiet.C // the heartbeats are what is being tested: wall-clock quiet, bounded
	if st := sub.Stats(); st.Reconnects != 0 {
		t.Fatalf("reconnected during a quiet second with heartbeats: %+v", st)
	}
	second := dropWhilePublishing(t, ctx, s, sub, nodeserver.FeedChanges, "b", 3)
	receiveIDs(t, ctx, sub, second)
	// The response ends with last_seq once timeout passes: the client
	// comes back from the last seq.
	ended := time.Now()
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventDisconnected && e.Time.After(ended) })
	third := publishFeed(t, ctx, s, nodeserver.FeedChanges, "c", 2)
	receiveIDs(t, ctx, sub, third)
	noMore(t, sub)

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sinces []string
	for _, r := range st.Requests[nodeserver.FeedChanges] {
		q, _ := r.Query.(map[string]any)
		sinces = append(sinces, fmt.Sprint(q["since"]))
		if r.Proto != "HTTP/1.1" {
			t.Fatalf("request over %s", r.Proto)
		}
	}
	if len(sinces) < 3 || sinces[0] != "0" || sinces[1] != first[2] || sinces[len(sinces)-1] != second[2] {
		t.Fatalf("since of each request %q, want 0, then %s, ..., ending with %s", sinces, first[2], second[2])
	}
}

// TestStreams_kubernetesWatch follows an express server in the style of a
// Kubernetes watch: resourceVersion as the cursor, resuming with no gap and
// no repeat after a cut; then, with the history compacted while the
// subscriber was away, the server answers 410 Gone to its resourceVersion,
// and the subscription reports a gap (EventGap) and goes on from now
// instead of restarting silently.
func TestStreams_kubernetesWatch(t *testing.T) {
	s, _ := startStreams(t)
	ctx := dialectCtx(t)
	watch := &transport.HTTPStream{URL: s.URL() + nodeserver.PathPods + "?watch=1", CursorParam: "resourceVersion"}
	cfg := streamConfig(watch)
	cfg.Decoder = transport.Fields{ID: "object.metadata.resourceVersion", Event: "type", Data: "object"}.Decoder()
	sub := subscribe(t, cfg)
	waitEvent(t, ctx, sub, func(e client.Event) bool { return e.Kind == client.EventConnected })

	first := publishFeed(t, ctx, s, nodeserver.FeedWatch, "pod-a", 3)
	got := receiveIDs(t, ctx, sub, first)
	if got[0].Event != "ADDED" || !bytes.Contains(got[0].Data, []byte(`"name":"pod-a0"`)) {
		t.Fatalf("first event %+v", got[0])
	}
	second := dropWhilePublishing(t, ctx, s, sub, nodeserver.FeedWatch, "pod-b", 3)
	receiveIDs(t, ctx, sub, second)
	noMore(t, sub)

	// Away while the history is compacted: a subscription coming back from
	// the last version the first one had, now older than the history,
	// gets a gap, then the events after it.
	late := streamConfig(watch)
	late.Decoder = cfg.Decoder
	late.Cursor = second[2]
	lost := publishFeed(t, ctx, s, nodeserver.FeedWatch, "pod-lost", 2)
	compactedTo, err := s.Compact(ctx)
	if err != nil || compactedTo != lost[1] {
		t.Fatalf("compact: %s, %v", compactedTo, err)
	}
	lateSub := subscribe(t, late)
	gap := waitEvent(t, ctx, lateSub, func(e client.Event) bool { return e.Kind == client.EventGap })
	if gap.ID != second[2] {
		t.Fatalf("gap reported at %q, want the cursor %s", gap.ID, second[2])
	}
	after := publishFeed(t, ctx, s, nodeserver.FeedWatch, "pod-c", 2)
	receiveIDs(t, ctx, lateSub, after)
	if st := lateSub.Stats(); st.Gaps != 1 {
		t.Fatalf("stats %+v, want one gap", st)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := st.Requests[nodeserver.FeedWatch]
	var rvs []string
	for _, r := range reqs {
		q, _ := r.Query.(map[string]any)
		rvs = append(rvs, fmt.Sprint(q["resourceVersion"]))
	}
	// The late subscription's two requests: the expired version, then none.
	if n := len(rvs); n < 2 || rvs[n-2] != second[2] || rvs[n-1] != "<nil>" {
		t.Fatalf("resourceVersion of each request %q", rvs)
	}
}

// TestStreams_wholeStatePolling polls seed 000's whole-state endpoint 100
// times or more while items are appended: each item is delivered exactly
// once, in order; with the server's ETag, a poll with no change is answered
// 304 and not decoded (the decodes equal the server's 200 answers).
func TestStreams_wholeStatePolling(t *testing.T) {
	s, _ := startStreams(t)
	ctx := dialectCtx(t)
	var decodes atomic.Int64
	keyed := transport.Fields{Items: "msg", Key: "user,text,time"}.Decoder()
	cfg := config(&transport.Poll{URL: s.URL() + nodeserver.PathState, Interval: 5 * time.Millisecond})
	cfg.Decoder = func(b []byte) ([]transport.Message, error) {
		decodes.Add(1)
		return keyed(b)
	}
	sub := subscribe(t, cfg)

	polls := func() int {
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Requests[nodeserver.FeedState])
	}
	var want []string
	for i := 0; polls() < 100; i++ {
		if i%2 == 0 {
			publishFeed(t, ctx, s, nodeserver.FeedState, "item"+strconv.Itoa(i)+"-", 1)
			want = append(want, "item"+strconv.Itoa(i)+"-0")
		}
		n := polls()
		waitUntil(t, ctx, func() string { return "three more polls" }, func() (bool, error) { return polls() >= n+3, nil })
	}
	got := receive(t, ctx, sub, len(want))
	for i, m := range got {
		var item struct{ Text string }
		if err := json.Unmarshal(m.Data, &item); err != nil || item.Text != want[i] || m.ID != "" {
			t.Fatalf("message %d: %s, want text %s", i, m.Data, want[i])
		}
	}
	noMore(t, sub)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Requests[nodeserver.FeedState] {
		if q, _ := r.Query.(map[string]any); len(q) != 0 {
			t.Fatalf("a poll carried a query %v: keys must not move the cursor", q)
		}
	}
	if st.State.NotModified == 0 || st.State.OK+st.State.NotModified < 100 {
		t.Fatalf("server answered %d times 200 and %d times 304", st.State.OK, st.State.NotModified)
	}
	// The client's decodes can lag the server's answers by the poll in
	// flight, never exceed them.
	if d := decodes.Load(); d > int64(st.State.OK) || d < int64(st.State.OK)-1 {
		t.Fatalf("%d decodes for %d answers with a body (and %d answered 304)", d, st.State.OK, st.State.NotModified)
	}
	t.Logf("%d polls: %d answered 200 and decoded, %d answered 304 and not decoded; %d items once each",
		st.State.OK+st.State.NotModified, st.State.OK, st.State.NotModified, len(want))
}
