//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anysub/anysub/transport"
)

// The slicer toxic of scenario 9: chunks of slicerAverage bytes on
// average, give or take slicerVariation, slicerDelayMicros apart.
const (
	slicerAverage     = 3
	slicerVariation   = 2
	slicerDelayMicros = 20
)

// slicerValues is how many values each format's run streams.
func slicerValues(p Profile) int {
	if p.Name == longProfile.Name {
		return 2000
	}
	return 150
}

// slicerData is the data member of the i-th value: every kind of JSON
// token, strings holding the structural characters and escapes a scanner
// must not take for structure, and multi-byte UTF-8 (2, 3 and 4 bytes) for
// the slicer to cut in the middle of.
func slicerData(i int) string {
	return fmt.Sprintf(`{"seq":%d,"text":"q\"uote \\ back {brace} [bracket] ,:; é 漢字 😀 \u00e9 \ud83d\ude00 \n\t","num":-%d.5e-3,`+
		`"nested":{"a":[1,[2,{"b":null}]],"t":true,"f":false,"empty":{},"none":[]},"pad":"%s"}`,
		i, i, strings.Repeat("ü", i%23))
}

// slicerValue is the i-th value as written: a message envelope whose id is
// i+1.
func slicerValue(i int) string {
	return fmt.Sprintf(`{"id":"%d","event":"slice","data":%s}`, i+1, slicerData(i))
}

// slicerSeparators are what FormatAuto's run writes between values, in
// turn: nothing, whitespace of every kind, and RS.
var slicerSeparators = []string{"", "\n", " ", "\r\n", "\t \n\n", "\x1e", "\x1e\n"}

// TestSlicer is scenario 9: JSON values streamed through Toxiproxy's
// slicer toxic, which forwards the response (headers included) in chunks
// of a few bytes, decode to exactly what the server wrote, whatever the
// framing: NDJSON, values written back to back, and a mix of separators
// read by FormatAuto.
func TestSlicer(t *testing.T) {
	prof, _, rep := setup(t)
	tp := startToxiproxy(t)
	n := slicerValues(prof)
	for _, format := range []transport.StreamFormat{transport.FormatNDJSON, transport.FormatJSON, transport.FormatAuto} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			var body bytes.Buffer
			for i := range n {
				body.WriteString(slicerValue(i))
				switch format {
				case transport.FormatNDJSON:
					body.WriteString("\n")
				case transport.FormatAuto:
					body.WriteString(slicerSeparators[i%len(slicerSeparators)])
				}
			}
			srv := slicerServer(t, body.Bytes())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			px, err := tp.CreateProxy(ctx, "slicer_"+format.String(), srv.Listener.Addr().String())
			if err != nil {
				t.Fatalf("create proxy: %v", err)
			}
			if err := px.AddToxic(ctx, Toxic{Name: "slicer", Type: "slicer", Stream: "downstream", Attributes: map[string]any{
				"average_size": slicerAverage, "size_variation": slicerVariation, "delay": slicerDelayMicros,
			}}); err != nil {
				t.Fatalf("add slicer: %v", err)
			}

			tr := &transport.HTTPStream{URL: px.URL("/values"), Format: format}
			st, err := tr.Open(ctx, transport.Request{HTTPClient: httpClient(t)})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer st.Close()
			intact := 0
			for i := range n {
				m, err := st.Next(ctx)
				if err != nil {
					t.Fatalf("value %d of %d: %v", i+1, n, err)
				}
				want := slicerData(i)
				if m.ID != fmt.Sprint(i+1) || m.Event != "slice" || string(m.Data) != want {
					t.Errorf("value %d: id %q event %q data\n%s\nwant id %d event slice data\n%s", i+1, m.ID, m.Event, m.Data, i+1, want)
					continue
				}
				intact++
			}
			// The body ends after the last value: no stray value, and the
			// end read as the server ending the response between two
			// values (transient, for the client to reconnect), not as a
			// value cut short.
			var te *transport.Error
			if m, err := st.Next(ctx); err == nil {
				t.Errorf("after the last value: %+v", m)
			} else if !errors.As(err, &te) || te.Class != transport.Transient || !strings.HasSuffix(err.Error(), "server closed the stream") {
				t.Errorf("after the last value: %v, want the server's clean end of the response", err)
			}
			t.Logf("%s: %d of %d values intact, %d bytes in chunks of ~%d bytes", format, intact, n, body.Len(), slicerAverage)
			_ = rep.Row("slicer", format.String(), itoa(n), itoa(intact), itoa(body.Len()), itoa(body.Len()/slicerAverage), pass(t))
		})
	}
}

// slicerServer serves body at /values as one streamed response, flushed
// every 256 bytes, on a loopback port of its own (httptest listens on
// 127.0.0.1).
func slicerServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/values" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		f := w.(http.Flusher)
		for b := body; len(b) > 0; {
			k := min(len(b), 256)
			if _, err := w.Write(b[:k]); err != nil {
				return
			}
			f.Flush()
			b = b[k:]
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
