package main

// Tests of the built command's HTTP streaming and whole-state polling flags:
// -stream, -stream-format, -h2c, -items-field, -key, and -cursor-param on
// -stream.

import (
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamRecorder records the requests of a test server: method, path,
// query and protocol.
type streamRecorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *streamRecorder) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery+" "+req.Proto)
	return len(r.reqs)
}

func (r *streamRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// writeParts writes each part and flushes it.
func writeParts(w http.ResponseWriter, parts ...string) {
	for _, p := range parts {
		io.WriteString(w, p)
		w.(http.Flusher).Flush()
	}
}

func TestBinary_streamFormats(t *testing.T) {
	want := []outLine{msg("1", "", `"a"`, "stream"), msg("2", "e", `{"b":2}`, "stream"), msg("3", "", `3`, "stream")}
	for _, tt := range []struct {
		format string
		parts  []string
	}{
		{"auto", []string{`{"id":1,"data":"a"}{"id":2,"ev`, `ent":"e","data":{"b":2}}`, "\n\n", "\x1e" + `{"id":3,"data":3}` + "\n"}},
		{"ndjson", []string{`{"id":1,"data":"a"}` + "\n\n" + `{"id":2,"event":"e",`, `"data":{"b":2}}` + "\r\n" + `{"id":3,"data":3}` + "\n"}},
		{"json", []string{`{"id":1,"data":"a"} {"id":2,"event":"e","data":{"b":2}}`, `{"id":3,"data":3}`}},
		{"json-seq", []string{"\x1e" + `{"id":1,"data":"a"}` + "\n\x1e", `{"id":2,"event":"e","data":{"b":2}}` + "\n\x1e" + `{"id":3,"data":3}` + "\n"}},
	} {
		t.Run(tt.format, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeParts(w, tt.parts...)
				<-r.Context().Done()
			}))
			t.Cleanup(srv.Close)
			code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-stream", srv.URL, "-stream-format", tt.format)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			wantMessages(t, stdout, want...)
		})
	}
}

// TestBinary_streamResumesWithCursorParam: a stream cut after two values is
// opened again with the cursor in -cursor-param, and nothing is repeated.
func TestBinary_streamResumesWithCursorParam(t *testing.T) {
	var rec streamRecorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		switch r.URL.Query().Get("after") {
		case "":
			writeParts(w, `{"seq":"1","v":1}`+"\n", `{"seq":"2","v":2}`+"\n")
			return // the server ends the response: the client comes back
		case "2":
			writeParts(w, `{"seq":"3","v":3}`+"\n")
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-stream", srv.URL+"/changes?feed=continuous",
		"-cursor-param", "after", "-id-field", "seq", "-backoff-min", "10ms", "-backoff-max", "20ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout,
		msg("1", "", `{"seq":"1","v":1}`, "stream"),
		msg("2", "", `{"seq":"2","v":2}`, "stream"),
		msg("3", "", `{"seq":"3","v":3}`, "stream"))
	if got := rec.all(); len(got) != 2 || got[0] != "GET /changes?feed=continuous HTTP/1.1" || got[1] != "GET /changes?after=2&feed=continuous HTTP/1.1" {
		t.Fatalf("requests %q", got)
	}
}

// TestBinary_h2c: with -h2c the stream and the lines -send posts go over
// one cleartext HTTP/2 connection.
func TestBinary_h2c(t *testing.T) {
	var rec streamRecorder
	posted := make(chan string, 1)
	var conns sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			posted <- string(b)
			return
		}
		writeParts(w, `{"id":"1","data":"hello"}`+"\n")
		select {
		case line := <-posted:
			writeParts(w, fmt.Sprintf(`{"id":"2","data":%q}`+"\n", line))
		case <-r.Context().Done():
			return
		}
		<-r.Context().Done()
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Store(c.RemoteAddr().String(), true)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	p := startBinary(t, true, "-json", "-n", "2", "-stream", srv.URL+"/s", "-send", "-send-url", srv.URL+"/in", "-h2c")
	p.waitLines(p.stdout, 1, contains(`"id":"1"`))
	io.WriteString(p.stdin, "hi there\n")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	wantMessages(t, p.stdout.String(), msg("1", "", `"hello"`, "stream"), msg("2", "", `"hi there"`, "stream"))
	if got := rec.all(); len(got) != 2 || got[0] != "GET /s? HTTP/2.0" || got[1] != "POST /in? HTTP/2.0" {
		t.Fatalf("requests %q", got)
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestBinary_streamOverTLSIsHTTP2: over https with -cacert, the stream
// negotiates HTTP/2.
func TestBinary_streamOverTLSIsHTTP2(t *testing.T) {
	var rec streamRecorder
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeParts(w, `{"id":"1","data":1}`)
		<-r.Context().Done()
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, "-json", "-n", "1", "-stream", srv.URL+"/s", "-cacert", ca)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	wantMessages(t, stdout, msg("1", "", `1`, "stream"))
	if got := rec.all(); len(got) != 1 || got[0] != "GET /s? HTTP/2.0" {
		t.Fatalf("requests %q", got)
	}
}

// wholeStateItems are the items of the whole-state tests, in the order the
// server adds them; two are equal in user and text but not in time.
var wholeStateItems = []string{
	`{"user":"ann","text":"hi","time":1}`,
	`{"user":"bob","text":"yo","time":2}`,
	`{"user":"ann","text":"hi","time":3}`,
}

// TestBinary_itemsFieldAndKeyOnPoll: a poll answering its whole state with
// id-less items, one more item every other request: with -items-field and
// -key each item is printed once, and no request carries a cursor. With
// -key user,text the third item repeats the first's key and is dropped.
func TestBinary_itemsFieldAndKeyOnPoll(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want []string
	}{
		{"content", wholeStateItems},
		{"user,text", wholeStateItems[:2]},
	} {
		t.Run(tt.key, func(t *testing.T) {
			var rec streamRecorder
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := rec.add(r)
				have := min((n+1)/2, len(wholeStateItems))
				fmt.Fprintf(w, `{"msg":[%s],"status":"ok"}`, strings.Join(wholeStateItems[:have], ","))
			}))
			t.Cleanup(srv.Close)
			p := startBinary(t, false, "-json", "-poll", srv.URL, "-poll-interval", "5ms", "-items-field", "msg", "-key", tt.key)
			// Every item printed, then six more whole answers: a repeat
			// would be printed by then.
			p.waitLines(p.stdout, len(tt.want), func(string) bool { return true })
			waitRequests(t, &rec, len(rec.all())+6)
			p.cmd.Process.Signal(os.Interrupt)
			if code := p.wait(); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
			}
			var want []outLine
			for _, it := range tt.want {
				want = append(want, msg("", "", it, "poll"))
			}
			wantMessages(t, p.stdout.String(), want...)
			for _, r := range rec.all() {
				if strings.Contains(r, "since=") {
					t.Fatalf("a request carried a cursor: %q", r)
				}
			}
		})
	}
}

// waitRequests waits until rec has n requests, polling it: the server is
// in this process and counts them as they come.
func waitRequests(t *testing.T, rec *streamRecorder, n int) {
	t.Helper()
	ctx := waitCtx(t)
	for len(rec.all()) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d requests, want %d", len(rec.all()), n)
		case <-time.After(5 * time.Millisecond): // polling the count, bounded by ctx
		}
	}
}

// TestBinary_itemsFieldAndKeyOnStream: a stream written the way the seed's
// HTTP/2 server writes it, the whole state {"msg":[...]} after every
// update with no delimiter, prints each item once.
func TestBinary_itemsFieldAndKeyOnStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range wholeStateItems {
			writeParts(w, `{"msg":[`+strings.Join(wholeStateItems[:i+1], ",")+`]}`)
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	code, stdout, stderr := runBinary(t, "-json", "-n", "3", "-stream", srv.URL, "-items-field", "msg", "-key", "content")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var want []outLine
	for _, it := range wholeStateItems {
		want = append(want, msg("", "", it, "stream"))
	}
	wantMessages(t, stdout, want...)
	// Each line carries its item's key, and the keys differ (the first and
	// third items differ in their time only).
	keys := map[string]bool{}
	for _, m := range parseMessages(t, stdout) {
		if m.Key == "" || keys[m.Key] {
			t.Fatalf("key %q in:\n%s", m.Key, stdout)
		}
		keys[m.Key] = true
	}
}

func TestBinary_streamBadFlagsExitTwo(t *testing.T) {
	const u = "http://127.0.0.1:1/s"
	for _, args := range [][]string{
		{"-stream", u, "-stream-format", "xml"},
		{"-h2c", "-poll", u},
		{"-stream", u, "-key", "user,,time"},
		{"-poll", u, "-items-field", "a..b"},
		{"-stream", "ftp://127.0.0.1/s"},
	} {
		code, stdout, stderr := runBinary(t, args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}
