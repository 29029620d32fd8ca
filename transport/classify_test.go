package transport

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// classKinds are the requests of the classification table: the WebSocket
// handshake, the GET of each stream transport, and the POST of Send on the
// stream of each HTTP transport.
var classKinds = []struct {
	name string
	kind exchange
	// fail makes the request against target, which fails it, and returns
	// the error.
	fail func(t *testing.T, target string) error
}{
	{"websocket", handshakeExchange, func(t *testing.T, target string) error {
		return classOpen(t, &WebSocket{URL: wsTarget(target)})
	}},
	{"sse", streamExchange, func(t *testing.T, target string) error {
		return classOpen(t, &SSE{URL: target})
	}},
	{"longpoll", streamExchange, func(t *testing.T, target string) error {
		return classOpen(t, &LongPoll{URL: target, Hold: 50 * time.Millisecond})
	}},
	{"poll", streamExchange, func(t *testing.T, target string) error {
		return classOpen(t, &Poll{URL: target, Interval: time.Millisecond})
	}},
	{"sse send", sendExchange, func(t *testing.T, target string) error {
		return classSend(t, func(u string) Transport { return &SSE{URL: u, SendURL: target} })
	}},
	{"longpoll send", sendExchange, func(t *testing.T, target string) error {
		return classSend(t, func(u string) Transport { return &LongPoll{URL: u, SendURL: target, Hold: 50 * time.Millisecond} })
	}},
	{"poll send", sendExchange, func(t *testing.T, target string) error {
		return classSend(t, func(u string) Transport { return &Poll{URL: u, SendURL: target, Interval: time.Millisecond} })
	}},
}

// wsTarget turns an http(s) URL into a ws(s) one.
func wsTarget(u string) string {
	if rest, ok := strings.CutPrefix(u, "https"); ok {
		return "wss" + rest
	}
	return "ws" + strings.TrimPrefix(u, "http")
}

func classCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// classOpen opens tr, which must fail, and returns why.
func classOpen(t *testing.T, tr Transport) error {
	t.Helper()
	st, err := tr.Open(classCtx(t), Request{})
	if err == nil {
		st.Close()
		t.Fatalf("%s: Open succeeded", tr.Name())
	}
	return err
}

// classSend opens the stream made by mk on a healthy server and sends on
// it; the send must fail, and its error is returned.
func classSend(t *testing.T, mk func(streamURL string) Transport) error {
	t.Helper()
	ss := newSendServer(t, nil)
	st, err := mk(ss.URL).Open(classCtx(t), Request{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	err = st.(Sender).Send(classCtx(t), []byte("x"), "")
	if err == nil {
		t.Fatal("Send succeeded")
	}
	return err
}

// TestClassification checks the table documented on Class, every row on
// every kind of request: the WebSocket handshake, SSE, long poll and poll,
// and the POST of Send on each HTTP transport's stream.
func TestClassification(t *testing.T) {
	const (
		T = Transient
		U = Unsupported
		P = Permanent
		E = EndOfStream
	)
	type classes struct{ handshake, stream, send Class }

	statuses := []struct {
		code int
		want classes
	}{
		{400, classes{U, P, P}},
		{401, classes{P, P, P}},
		{402, classes{U, P, P}},
		{403, classes{U, U, P}},
		{404, classes{U, U, U}},
		{405, classes{U, U, U}},
		{407, classes{P, P, P}},
		{408, classes{T, T, T}},
		{409, classes{U, P, P}},
		{410, classes{U, E, P}},
		{422, classes{U, P, P}},
		{426, classes{U, U, U}},
		{429, classes{T, T, T}},
		{451, classes{U, P, P}},
		{500, classes{T, T, T}},
		{501, classes{U, U, U}},
		{502, classes{T, T, T}},
		{503, classes{T, T, T}},
		{504, classes{T, T, T}},
	}
	for _, row := range statuses {
		t.Run(strconv.Itoa(row.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(row.code)
			}))
			t.Cleanup(srv.Close)
			for _, k := range classKinds {
				want := map[exchange]Class{handshakeExchange: row.want.handshake,
					streamExchange: row.want.stream, sendExchange: row.want.send}[k.kind]
				err := k.fail(t, srv.URL)
				te := classWant(t, k.name, err, want)
				if te.StatusCode != row.code || te.RetryAfter != 7*time.Second {
					t.Errorf("%s: %v: status %d, retry after %v; want %d and 7s", k.name, err, te.StatusCode, te.RetryAfter, row.code)
				}
			}
		})
	}

	// Failures without a status.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(loop.Close)
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused TLS handshakes are expected
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	for _, row := range []struct {
		name   string
		target string
		want   Class
		is     error
	}{
		{"network error", refused, Transient, nil},
		{"redirect loop", loop.URL, Permanent, ErrTooManyRedirects},
		{"TLS verification", untrusted.URL, Permanent, nil},
	} {
		t.Run(row.name, func(t *testing.T) {
			for _, k := range classKinds {
				err := k.fail(t, row.target)
				classWant(t, k.name, err, row.want)
				if row.is != nil && !errors.Is(err, row.is) {
					t.Errorf("%s: %v does not match %v", k.name, err, row.is)
				}
			}
		})
	}
}

// classWant checks that err is a *Error of class want, matching that class's
// sentinel and no other.
func classWant(t *testing.T, what string, err error, want Class) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("%s: %T %v is not a *Error", what, err, err)
	}
	if te.Class != want {
		t.Errorf("%s: %v: class %v, want %v", what, err, te.Class, want)
	}
	sentinels := map[Class]error{Transient: ErrTransient, Unsupported: ErrUnsupported, Permanent: ErrPermanent, EndOfStream: io.EOF}
	for class, s := range sentinels {
		if errors.Is(err, s) != (class == want) {
			t.Errorf("%s: errors.Is(%v, %v) = %v", what, err, s, !(class == want))
		}
	}
	return te
}
