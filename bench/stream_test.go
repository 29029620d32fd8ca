package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/anysub/anysub/transport"
)

// The HTTP stream wire: one response whose body is newline-delimited JSON
// envelopes, {"id":N,"event":"tick","data":{...}} per line, resuming after
// ?since=. Its rows: bufio-json, the loop anyone would write (a
// bufio.Scanner over lines, each decoded with encoding/json; the baseline);
// linescanner, a hand-rolled scanner that finds the id and the data of
// this source's lines without decoding them (the speed of light);
// anysub-transport (transport.HTTPStream alone, through Next) and anysub.

var streamWire = wire{name: "Stream", path: "/stream", receivers: []receiver{
	{"bufio-json", bufioJSONLines},
	{"linescanner", lineScanner},
	{"anysub-transport", anysubStream(func(u string) transport.Transport { return &transport.HTTPStream{URL: u} })},
	{"anysub", anysubClient(func(u string) transport.Transport { return &transport.HTTPStream{URL: u} })},
}}

// stream serves the HTTP stream wire: messages since+1..n as NDJSON, then
// nothing until the client goes.
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	p := parse(r)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	bw := bufio.NewWriterSize(w, 32<<10)
	var line []byte
	for sent := p.since; ; {
		last := s.next(r.Context(), p, sent)
		if last == 0 {
			<-r.Context().Done()
			return
		}
		for i := sent + 1; i <= last; i++ {
			line = append(appendEnvelopeText(line[:0], i, p.text), '\n')
			bw.Write(line)
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
		sent = last
	}
}

// streamGet opens the stream with a client of its own.
func streamGet(ctx context.Context, url string) (*http.Response, func(), error) {
	hc := newHTTPClient()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	return resp, func() { resp.Body.Close(); hc.CloseIdleConnections() }, nil
}

// bufioJSONLines reads lines with a bufio.Scanner (its buffer raised to
// 1 MiB, the limit anysub has by default) and decodes each with
// encoding/json.
func bufioJSONLines(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	resp, done, err := streamGet(ctx, url)
	if err != nil {
		return err
	}
	defer done()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for i := 0; i < n && sc.Scan(); {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e pollEnvelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return err
		}
		i++
		if !fn(e.ID.String(), e.Data) || i == n {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("stream ended early")
}

// lineScanner reads lines with bufio.Reader.ReadSlice and cuts the id and
// the data out of each by their known places in this source's envelope:
// no general JSON reading at all.
func lineScanner(ctx context.Context, url string, n int, fn func(string, []byte) bool) error {
	resp, done, err := streamGet(ctx, url)
	if err != nil {
		return err
	}
	defer done()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	idKey, dataKey := []byte(`{"id":`), []byte(`,"data":`)
	for i := 0; i < n; {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if !bytes.HasPrefix(line, idKey) {
			continue
		}
		rest := line[len(idKey):]
		end := bytes.IndexByte(rest, ',')
		d := bytes.Index(rest, dataKey)
		if end < 0 || d < 0 || len(rest) == 0 || rest[len(rest)-1] != '}' {
			return fmt.Errorf("line %.40q", line)
		}
		id := rest[:end]
		if _, err := strconv.Atoi(string(id)); err != nil {
			return fmt.Errorf("id %q", id)
		}
		i++
		if !fn(string(id), rest[d+len(dataKey):len(rest)-1]) || i == n {
			return nil
		}
	}
	return nil
}
