package transport

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file checks how LongPoll and Poll report failures: every status,
// bad bodies, size limits, bad URLs, network and TLS failures, and stalls.

func TestPolling_Open_status(t *testing.T) {
	tests := []struct {
		name       string
		reply      pollReply
		code       int
		class      Class
		retryAfter time.Duration
		target     error
	}{
		{"404", pollReplyStatus(404), 404, Unsupported, 0, ErrUnsupported},
		{"405", pollReplyStatus(405), 405, Unsupported, 0, ErrUnsupported},
		{"426", pollReplyStatus(426), 426, Unsupported, 0, ErrUnsupported},
		{"501", pollReplyStatus(501), 501, Unsupported, 0, ErrUnsupported},
		{"400", pollReplyStatus(400), 400, Permanent, 0, ErrPermanent},
		{"401", pollReplyStatus(401), 401, Permanent, 0, ErrPermanent},
		{"403", pollReplyStatus(403), 403, Unsupported, 0, ErrUnsupported},
		{"503 retry-after", pollReplyStatus(503, "Retry-After", "7"), 503, Transient, 7 * time.Second, ErrTransient},
		{"429 retry-after", pollReplyStatus(429, "Retry-After", "2"), 429, Transient, 2 * time.Second, ErrTransient},
		{"408", pollReplyStatus(408), 408, Transient, 0, ErrTransient},
		{"500", pollReplyStatus(500), 500, Transient, 0, ErrTransient},
		{"410", pollReplyStatus(410), 410, EndOfStream, 0, io.EOF},
	}
	forEachPolling(t, func(t *testing.T, name string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, tt.reply)
				st, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{})
				if st != nil {
					t.Fatalf("Open returned a stream with error %v", err)
				}
				te := expectPollError(t, err, tt.class, "open", tt.target)
				if te.StatusCode != tt.code || te.RetryAfter != tt.retryAfter || te.Transport != name {
					t.Errorf("error %+v: want status %d, retry after %v, transport %s", te, tt.code, tt.retryAfter, name)
				}
			})
		}
	})
}

func TestPolling_Next_statusAfterOpen(t *testing.T) {
	tests := []struct {
		name       string
		reply      pollReply
		class      Class
		retryAfter time.Duration
	}{
		{"503 retry-after", pollReplyStatus(503, "Retry-After", "1"), Transient, time.Second},
		{"401", pollReplyStatus(401), Permanent, 0},
		{"404", pollReplyStatus(404), Unsupported, 0},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), tt.reply)
				st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{})
				expectPollMessages(t, st, "1||")
				_, err := pollNext(t, st)
				if te := expectPollError(t, err, tt.class, "read"); te.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", te.RetryAfter, tt.retryAfter)
				}
				if n := len(srv.requests()); n != 2 {
					t.Errorf("server saw %d requests, want 2", n)
				}
			})
		}
	})
}

func TestPolling_malformedBody(t *testing.T) {
	bodies := []struct{ name, body string }{
		{"captive portal html", "<html><body>Please log in</body></html>"},
		{"truncated json", `[{"id":1,"data":`},
		{"id is an object", `[{"id":{"x":1}}]`},
		{"array of numbers", `[1,2]`},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, b := range bodies {
			t.Run(b.name+"/open", func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(b.body))
				_, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{})
				expectPollError(t, err, Transient, "open", ErrMalformed, ErrTransient)
			})
			t.Run(b.name+"/read", func(t *testing.T) {
				srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), pollReplyJSON(b.body))
				st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{})
				expectPollMessages(t, st, "1||")
				_, err := pollNext(t, st)
				expectPollError(t, err, Transient, "read", ErrMalformed)
			})
		}
	})
}

func TestPolling_Open_responseSize(t *testing.T) {
	big := `[{"id":1,"data":"` + strings.Repeat("x", 200) + `"}]`
	tests := []struct {
		name        string
		maxResponse int64
		maxMessage  int64
		chunked     bool
		wantErr     bool
	}{
		{"content-length over limit", 64, 16, false, true},
		{"chunked over limit", 64, 16, true, true},
		{"limit raised to MaxMessageSize", 16, 1000, true, false},
		{"exactly at limit", int64(len(big)), 210, true, false},
		{"one byte over", int64(len(big)) - 1, 210, true, true},
	}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := newPollServer(t, func(w http.ResponseWriter, _ *http.Request) {
					if !tt.chunked {
						w.Header().Set("Content-Length", strconv.Itoa(len(big)))
					}
					_, _ = w.Write([]byte(big[:10]))
					w.(http.Flusher).Flush()
					_, _ = w.Write([]byte(big[10:]))
				})
				st, err := pollOpen(t, mk(pollCase{url: srv.URL, maxResponseSize: tt.maxResponse}),
					Request{MaxMessageSize: tt.maxMessage})
				if tt.wantErr {
					expectPollError(t, err, Transient, "open", ErrMessageTooLarge)
					return
				}
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				expectPollMessages(t, st, `1||"`+strings.Repeat("x", 200)+`"`)
			})
		}
	})
}

func TestPolling_Next_oversizedMessage(t *testing.T) {
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		t.Run("mid response", func(t *testing.T) {
			srv := newPollServer(t,
				pollReplyJSON(`[{"id":0,"data":"ok"}]`),
				pollReplyJSON(`[{"id":1,"data":"ok"},{"id":2,"data":"far too long"},{"id":3,"data":"ok"}]`),
				pollReplyJSON(`[{"id":4,"data":"ok"}]`),
			)
			st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{MaxMessageSize: 8})
			expectPollMessages(t, st, `0||"ok"`, `1||"ok"`)
			_, err := pollNext(t, st)
			expectPollError(t, err, Transient, "read", ErrMessageTooLarge)
			if _, again := pollNext(t, st); again != err {
				t.Errorf("Next after the failure = %v, want the same error", again)
			}
			if n := len(srv.requests()); n != 2 {
				t.Errorf("server saw %d requests, want 2 (none after the failure)", n)
			}
		})
		t.Run("first message at open", func(t *testing.T) {
			srv := newPollServer(t, pollReplyJSON(`[{"id":1,"data":"far too long"},{"id":2,"data":"ok"}]`))
			st, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{MaxMessageSize: 8})
			if st != nil {
				t.Fatal("Open returned a stream")
			}
			expectPollError(t, err, Transient, "open", ErrMessageTooLarge)
		})
	})
}

func TestPolling_Open_badURL(t *testing.T) {
	urls := []string{"", "://missing-scheme", "ftp://127.0.0.1/feed", "ws://127.0.0.1/feed", "http://", "/relative/path", "http://bad host/"}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		for _, u := range urls {
			t.Run(u, func(t *testing.T) {
				_, err := pollOpen(t, mk(pollCase{url: u}), Request{})
				expectPollError(t, err, Permanent, "open", ErrPermanent)
			})
		}
	})
}

func TestPolling_Open_connectionFailures(t *testing.T) {
	quiet := func(s *httptest.Server) { s.Config.ErrorLog = log.New(io.Discard, "", 0) }
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		t.Run("refused", func(t *testing.T) {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			_, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{})
			expectPollError(t, err, Transient, "open", ErrTransient)
		})
		t.Run("untrusted certificate", func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(pollReplyJSON(`[{"id":1}]`)))
			quiet(srv)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			_, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{HTTPClient: &http.Client{}})
			expectPollError(t, err, Permanent, "open", ErrPermanent)
			// The same server is fine for a client that trusts it.
			st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{HTTPClient: srv.Client()})
			expectPollMessages(t, st, "1||")
		})
		t.Run("redirect loop", func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/old" {
					http.Redirect(w, r, "/new", http.StatusFound)
					return
				}
				if r.URL.Path == "/new" {
					pollReplyJSON(`[{"id":1}]`)(w, r)
					return
				}
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
			}))
			t.Cleanup(srv.Close)
			_, err := pollOpen(t, mk(pollCase{url: srv.URL + "/loop"}), Request{})
			expectPollError(t, err, Permanent, "open", ErrTooManyRedirects)
			// One redirect is followed.
			st := pollMustOpen(t, mk(pollCase{url: srv.URL + "/old"}), Request{})
			expectPollMessages(t, st, "1||")
		})
	})
}

func TestPolling_stalledRequest(t *testing.T) {
	hb := Heartbeat{Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond}
	forEachPolling(t, func(t *testing.T, _ string, mk func(pollCase) Transport) {
		t.Run("open", func(t *testing.T) {
			srv := newPollServer(t, pollReplyStall)
			start := time.Now()
			_, err := pollOpen(t, mk(pollCase{url: srv.URL}), Request{Heartbeat: hb})
			expectPollError(t, err, Transient, "open", ErrStalled)
			if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
				t.Errorf("stall noticed after %v, want about 100ms", d)
			}
		})
		t.Run("read", func(t *testing.T) {
			srv := newPollServer(t, pollReplyJSON(`[{"id":1}]`), pollReplyStall)
			st := pollMustOpen(t, mk(pollCase{url: srv.URL}), Request{Heartbeat: hb})
			expectPollMessages(t, st, "1||")
			start := time.Now()
			_, err := pollNext(t, st)
			expectPollError(t, err, Transient, "read", ErrStalled)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("stall noticed after %v", d)
			}
		})
	})
}
