package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/internal/leakcheck"
	"github.com/anysub/anysub/internal/testserver"
)

// TestMain runs the tests, removes the command built by the binary tests,
// and then fails the run if goroutines leaked, as leakcheck.Main does.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if leaked := leakcheck.Check(leakcheck.Grace); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for the command's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newServer(t *testing.T) *testserver.Server {
	t.Helper()
	srv := testserver.New(testserver.Options{LongPollHold: 200 * time.Millisecond, KeepAlive: 20 * time.Millisecond})
	t.Cleanup(srv.Close)
	return srv
}

// runCLI runs the command with args and a bounded context.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code = run(ctx, args, &out, &errOut)
	if ctx.Err() != nil {
		t.Fatalf("run %q did not end by itself; stderr:\n%s", args, errOut.String())
	}
	return code, out.String(), errOut.String()
}

func TestRun_jsonMessagesAndStates(t *testing.T) {
	srv := newServer(t)
	srv.Publish("price", []byte(`{"p": 1}`))
	srv.Publish("note", []byte(`plain text`))
	srv.Publish("price", []byte(`{"p":3}`))

	code, stdout, stderr := runCLI(t, "-json", "-n", "3",
		"-ws", srv.WebSocketURL(), "-sse", srv.SSEURL(), "-heartbeat", "1s")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}

	type line struct {
		ID        string          `json:"id"`
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
		Transport string          `json:"transport"`
	}
	want := []line{
		{"1", "price", json.RawMessage(`{"p":1}`), "websocket"},
		{"2", "note", json.RawMessage(`"plain text"`), "websocket"},
		{"3", "price", json.RawMessage(`{"p":3}`), "websocket"},
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, l := range lines {
		var got line
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if got.ID != want[i].ID || got.Event != want[i].Event || got.Transport != want[i].Transport || !bytes.Equal(got.Data, want[i].Data) {
			t.Errorf("line %d = %+v (data %s), want %+v (data %s)", i, got, got.Data, want[i], want[i].Data)
		}
	}

	// Every stderr line is one JSON object with a state; the first two say
	// the subscriber is connecting, then connected, over WebSocket.
	var states []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var ev struct {
			State     string `json:"state"`
			Transport string `json:"transport"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.State == "" {
			t.Fatalf("stderr line %q is not a state object (%v)", sc.Text(), err)
		}
		states = append(states, ev.State+" "+ev.Transport)
	}
	if len(states) < 2 || states[0] != "connecting websocket" || states[1] != "connected websocket" {
		t.Fatalf("states %q", states)
	}
}

func TestRun_textOutputSkipsAFailingTransport(t *testing.T) {
	srv := newServer(t)
	srv.RefuseWebSocket(403)
	srv.Publish("tick", []byte(`1`))

	code, stdout, stderr := runCLI(t, "-n", "1", "-ws", srv.WebSocketURL(), "-sse", srv.SSEURL())
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if want := "sse       id=1 event=tick 1\n"; stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	if !strings.Contains(stderr, "downgraded websocket -> sse") {
		t.Fatalf("stderr does not show the downgrade:\n%s", stderr)
	}
}

func TestRun_sinceResumesAfterTheGivenID(t *testing.T) {
	srv := newServer(t)
	for range 4 {
		srv.Publish("tick", []byte(`0`))
	}
	code, stdout, stderr := runCLI(t, "-json", "-n", "2", "-since", "2", "-poll", srv.PollURL(), "-poll-interval", "10ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"id":"3"`) || !strings.Contains(stdout, `"id":"4"`) || strings.Contains(stdout, `"id":"2"`) {
		t.Fatalf("stdout:\n%s", stdout)
	}
}

func TestRun_unauthorizedExitsOne(t *testing.T) {
	srv := newServer(t)
	srv.Disable(testserver.PathSSE, 401)
	code, stdout, stderr := runCLI(t, "-sse", srv.SSEURL())
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if stdout != "" || !strings.Contains(stderr, "subscription failed") || !strings.Contains(stderr, "401") {
		t.Fatalf("stdout %q; stderr:\n%s", stdout, stderr)
	}
	if n := srv.Requests(testserver.PathSSE); n != 1 {
		t.Fatalf("%d requests to a server answering 401, want 1", n)
	}
}

func TestRun_serverEndingTheStreamExitsZero(t *testing.T) {
	srv := newServer(t)
	srv.Disable(testserver.PathSSE, 204)
	code, _, stderr := runCLI(t, "-sse", srv.SSEURL())
	if code != 0 || !strings.Contains(stderr, "the server ended the stream") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
}

func TestRun_interruptExitsZero(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-sse", srv.SSEURL()}, &out, &errOut) }()
	if err := srv.WaitLive(context.Background(), testserver.PathSSE, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after interrupt; stderr:\n%s", code, errOut.String())
	}
}

func TestRun_badFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"-backoff", "quadratic", "-sse", "http://127.0.0.1:1/sse"},
		{"-n", "-1", "-sse", "http://127.0.0.1:1/sse"},
		{"-header", "no colon", "-sse", "http://127.0.0.1:1/sse"},
		{"-backoff-min", "2s", "-backoff-max", "1s", "-sse", "http://127.0.0.1:1/sse"},
		{"-sse", "http://127.0.0.1:1/sse", "extra"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestPrinter_nonJSONDataIsAString(t *testing.T) {
	var out, errOut syncBuffer
	p := newPrinter(&out, &errOut, true)
	p.message(client.Message{ID: "7", Event: "log", Data: []byte("disk <full>"), Transport: "sse"})
	p.message(client.Message{ID: "8", Data: []byte(`[1, 2]`), Transport: "poll"})
	want := `{"id":"7","event":"log","data":"disk <full>","transport":"sse"}` + "\n" +
		`{"id":"8","event":"","data":[1,2],"transport":"poll"}` + "\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestRun_sendEndsWithTheRunWhileStdinStaysOpen(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, feed := io.Pipe()
	defer feed.Close()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWithInput(ctx, []string{"-n", "1", "-ws", srv.WebSocketURL(), "-send"}, in, &out, &errOut)
	}()
	if _, err := io.WriteString(feed, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Publish("tick", []byte(`1`))
	// The run ends on -n although stdin never does; the sender reading it
	// is stopped and waited for (the leak check would see it otherwise).
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("run did not end; stderr:\n%s", errOut.String())
	}
	if got := srv.Sent(); len(got) != 1 || string(got[0].Body) != "ping" {
		t.Fatalf("sent %+v", got)
	}
	if out.String() != "websocket id=1 event=tick 1\n" {
		t.Fatalf("stdout %q", out.String())
	}
}
