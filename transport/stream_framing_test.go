package transport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunkReader hands out its parts one Read at a time (a part longer than
// the Read's buffer is handed out over several), as a network would split
// a body.
type chunkReader struct {
	parts [][]byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// frameUnits reads body through the framer of format (or split) and
// returns the units, copied, and the error that ended the reading.
func frameUnits(body io.Reader, format StreamFormat, split bufio.SplitFunc, limit int64) ([]string, error) {
	u := unitReader{body: body, framer: newFramer(format, split), limit: limit}
	var units []string
	for {
		unit, err := u.next()
		if err != nil {
			return units, err
		}
		units = append(units, string(unit))
	}
}

// splits returns in cut at one point, at every point, and in one-byte
// pieces: the ways of reading it that the framing tests compare.
func splits(in string) map[string][][]byte {
	out := map[string][][]byte{"whole": {[]byte(in)}}
	for i := 1; i < len(in); i++ {
		out["cut at "+strconv.Itoa(i)] = [][]byte{[]byte(in[:i]), []byte(in[i:])}
	}
	var bytewise [][]byte
	for i := range len(in) {
		bytewise = append(bytewise, []byte{in[i]})
	}
	out["bytewise"] = bytewise
	return out
}

// k8sPretty is a Kubernetes watch event as the API server's documentation
// prints it: one object over several lines.
const k8sPretty = `{
  "type": "ADDED",
  "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "10596", "name": "a}b"}}
}
{
  "type": "MODIFIED",
  "object": {"kind": "Pod", "metadata": {"resourceVersion": "11020"}}
}
`

func TestStreamFraming(t *testing.T) {
	tests := []struct {
		name   string
		format StreamFormat
		in     string
		units  []string
		err    error // io.EOF for a clean end
	}{
		{"auto concatenated objects", FormatAuto, `{"msg":[1]}{"msg":[1,2]}`, []string{`{"msg":[1]}`, `{"msg":[1,2]}`}, io.EOF},
		{"auto ndjson with heartbeats", FormatAuto, "{\"seq\":1}\n\n\n{\"seq\":2}\r\n\n", []string{`{"seq":1}`, `{"seq":2}`}, io.EOF},
		{"auto json-seq", FormatAuto, "\x1e{\"a\":1}\n\x1e[2]\n", []string{`{"a":1}`, `[2]`}, io.EOF},
		{"auto pretty-printed", FormatAuto, k8sPretty, []string{
			"{\n  \"type\": \"ADDED\",\n  \"object\": {\"kind\": \"Pod\", \"apiVersion\": \"v1\", \"metadata\": {\"resourceVersion\": \"10596\", \"name\": \"a}b\"}}\n}",
			"{\n  \"type\": \"MODIFIED\",\n  \"object\": {\"kind\": \"Pod\", \"metadata\": {\"resourceVersion\": \"11020\"}}\n}",
		}, io.EOF},
		{"auto brackets and quotes in strings", FormatAuto, `{"s":"}\"{]["}["\\",{"t":"\\\""}]`, []string{`{"s":"}\"{]["}`, `["\\",{"t":"\\\""}]`}, io.EOF},
		{"auto scalars", FormatAuto, `1 -2.5e3 "x\"y" true false null"z"[]{}`, []string{`1`, `-2.5e3`, `"x\"y"`, `true`, `false`, `null`, `"z"`, `[]`, `{}`}, io.EOF},
		{"auto number at the end", FormatAuto, `[0] 12`, []string{`[0]`, `12`}, io.EOF},
		{"auto number ends at a bracket", FormatAuto, `7{"a":1}8[9]`, []string{`7`, `{"a":1}`, `8`, `[9]`}, io.EOF},
		{"auto numbers end where their grammar does", FormatAuto, `00 1.5e3-2 -0.1E+2`, []string{`0`, `0`, `1.5e3`, `-2`, `-0.1E+2`}, io.EOF},
		{"auto utf-8", FormatAuto, `{"t":"héllo ✓"}{"t":"日本"}`, []string{`{"t":"héllo ✓"}`, `{"t":"日本"}`}, io.EOF},
		{"auto only heartbeats", FormatAuto, "\n\n  \r\n\t\n", nil, io.EOF},
		{"auto empty body", FormatAuto, "", nil, io.EOF},
		{"auto nested", FormatAuto, `{"a":[{"b":[[],{}]}],"c":{}}`, []string{`{"a":[{"b":[[],{}]}],"c":{}}`}, io.EOF},

		{"auto mismatched bracket", FormatAuto, `{"a":1}{"a":[1}`, []string{`{"a":1}`}, ErrMalformed},
		{"auto closing bracket first", FormatAuto, `{"a":1} }`, []string{`{"a":1}`}, ErrMalformed},
		{"auto text between values", FormatAuto, "{\"a\":1}\nhello\n", []string{`{"a":1}`}, ErrMalformed},
		{"auto newline inside a string", FormatAuto, "{\"a\":\"cut\n{\"b\":2}\n", nil, ErrMalformed},
		{"auto RS inside a value", FormatAuto, "\x1e{\"a\":[1,\x1e{\"b\":2}\n", nil, ErrMalformed},
		{"auto bad literal", FormatAuto, `trux`, nil, ErrMalformed},
		{"auto cut object", FormatAuto, `{"a":1}{"b":`, []string{`{"a":1}`}, errTruncated},
		{"auto cut string", FormatAuto, `"abc`, nil, errTruncated},
		{"auto cut literal", FormatAuto, `[1] nul`, []string{`[1]`}, errTruncated},

		{"json concatenated", FormatJSON, `{"a":1} {"b":2}`, []string{`{"a":1}`, `{"b":2}`}, io.EOF},
		{"json refuses RS", FormatJSON, "\x1e{\"a\":1}\n", nil, ErrMalformed},

		{"json-seq texts", FormatJSONSeq, "\x1e{\"a\":1}\n\x1e\"s\"\n\x1e3\n", []string{`{"a":1}`, `"s"`, `3`}, io.EOF},
		{"json-seq empty texts", FormatJSONSeq, "\x1e\x1e\n\x1e{}\n", []string{`{}`}, io.EOF},
		{"json-seq text without RS", FormatJSONSeq, "\x1e{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`}, ErrMalformed},

		{"ndjson lines", FormatNDJSON, "{\"a\":1}\n\n{\"b\":2}\r\n  \n", []string{`{"a":1}`, `{"b":2}`}, io.EOF},
		{"ndjson line that is not JSON", FormatNDJSON, "hello world\n{\"a\":1}\n", []string{`hello world`, `{"a":1}`}, io.EOF},
		{"ndjson last line without its end", FormatNDJSON, "{\"a\":1}\n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}, io.EOF},
		{"ndjson last line cut", FormatNDJSON, "{\"a\":1}\n{\"b\":", []string{`{"a":1}`}, errTruncated},
		{"ndjson two values on a line", FormatNDJSON, "{\"a\":1} {\"b\":2}\n", []string{`{"a":1} {"b":2}`}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for how, parts := range splits(tt.in) {
				units, err := frameUnits(&chunkReader{parts: parts}, tt.format, nil, 1<<20)
				if !errors.Is(err, tt.err) {
					t.Fatalf("%s: error %v, want %v", how, err, tt.err)
				}
				if strings.Join(units, "\x00") != strings.Join(tt.units, "\x00") || len(units) != len(tt.units) {
					t.Fatalf("%s: units %q, want %q", how, units, tt.units)
				}
			}
		})
	}
}

// TestStreamFraming_tinyChunks reads one value of 200 KiB split into reads
// of 1 to 7 bytes: it comes out whole, and no byte is looked at twice
// (the framer keeps its place between reads).
func TestStreamFraming_tinyChunks(t *testing.T) {
	big := `{"id":"7","data":"` + strings.Repeat(`a\"{[`, 40<<10) + `"}`
	in := "\n" + big + "\n" + `{"id":"8"}`
	var parts [][]byte
	for i, n := 0, 1; i < len(in); n = n%7 + 1 {
		end := min(i+n, len(in))
		parts = append(parts, []byte(in[i:end]))
		i = end
	}
	counting := &countingFramer{framer: newFramer(FormatAuto, nil)}
	u := unitReader{body: &chunkReader{parts: parts}, framer: counting, limit: 1 << 20}
	var units []string
	for {
		unit, err := u.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, string(unit))
	}
	if len(units) != 2 || units[0] != big || units[1] != `{"id":"8"}` {
		t.Fatalf("got %d units, want the big value and {\"id\":\"8\"}", len(units))
	}
	if f := counting.framer.(*jsonFramer); f.kind != 0 {
		t.Fatalf("framer left inside a value")
	}
	// Every call looks only at what is new since the previous one, so the
	// bytes passed over are about the input's length, not its square.
	if counting.looked > 3*len(in) {
		t.Fatalf("the framer was handed %d bytes for an input of %d: it rescans", counting.looked, len(in))
	}
}

// countingFramer counts the new bytes each call of a framer could look at.
type countingFramer struct {
	framer
	looked int
	seen   int // bytes of the current buffer seen by the previous call
}

func (c *countingFramer) frame(buf []byte, atEOF bool) (int, []byte, error) {
	c.looked += len(buf) - c.seen
	adv, unit, err := c.framer.frame(buf, atEOF)
	c.seen = len(buf) - adv
	if adv == 0 {
		c.seen = len(buf)
	}
	return adv, unit, err
}

// TestStreamFraming_limit: a value over the limit fails with a
// *TooLargeError once limit+1 of its bytes are in, without the rest being
// read, and the buffer never grows past limit+1 bytes.
func TestStreamFraming_limit(t *testing.T) {
	const limit = 100 << 10
	big := `{"id":"2","data":"` + strings.Repeat("x", 3<<20) + `"}`
	body := &countingReader{r: strings.NewReader(`{"id":"1"}` + "\n" + big + "\n" + `{"id":"3"}`)}
	u := unitReader{body: body, framer: newFramer(FormatAuto, nil), limit: limit}
	unit, err := u.next()
	if err != nil || string(unit) != `{"id":"1"}` {
		t.Fatalf("first unit %q, %v", unit, err)
	}
	unit, err = u.next()
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != limit || tl.Size <= limit {
		t.Fatalf("error %v, want a *TooLargeError over %d", err, limit)
	}
	if u.whole || envelopePrefixID(unit) != "2" {
		t.Fatalf("the partial value should carry id 2: whole %v, id %q", u.whole, envelopePrefixID(unit))
	}
	if cap(u.buf) > limit+1 {
		t.Fatalf("buffer grew to %d bytes, limit %d", cap(u.buf), limit)
	}
	if body.n > 2*limit {
		t.Fatalf("read %d bytes of the body to find a value over %d", body.n, limit)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestParseStreamFormat(t *testing.T) {
	for _, f := range []StreamFormat{FormatAuto, FormatNDJSON, FormatJSON, FormatJSONSeq} {
		got, err := ParseStreamFormat(f.String())
		if err != nil || got != f {
			t.Fatalf("ParseStreamFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseStreamFormat("xml"); err == nil {
		t.Fatal("xml parsed")
	}
	if s := StreamFormat(9).String(); s != "StreamFormat(9)" {
		t.Fatalf("String of an unknown format: %q", s)
	}
}

// FuzzStreamFraming frames arbitrary bytes in each format, read whole and
// read in pieces of fuzzed sizes, and checks: the same units and the same
// kind of end either way; every unit a part of the input, in order; and,
// for FormatJSON, agreement with encoding/json's Decoder: when the framer
// reads the input cleanly into valid values, the Decoder reads the same
// values, and when the Decoder reads the whole input, so does the framer.
func FuzzStreamFraming(f *testing.F) {
	seeds := []string{
		`{"msg":[1]}{"msg":[1,2]}`, "{\"seq\":1}\n\n{\"seq\":2}\r\n", "\x1e{\"a\":1}\n\x1e[2]\n", k8sPretty,
		`{"s":"}\"{]["}["\\",{"t":"\\\""}]`, `1 -2.5e3 "x\"y" true false null"z"[]{}`, `7{"a":1}8[9]`,
		`{"a":1}{"a":[1}`, "hello\n{\"a\":1}\n", `{"a":1}{"b":`, `[1] nul`, "\x1e\x1e\n\x1e{}\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), byte(i), []byte{1, 5, 2})
	}
	f.Fuzz(func(t *testing.T, in []byte, format byte, sizes []byte) {
		stop := fuzzWatchdog(10 * time.Second)
		defer stop()
		fm := StreamFormat(format % 4)
		whole, wholeErr := frameUnits(bytes.NewReader(in), fm, nil, 1<<20)
		parts := fuzzChunkReader{in: in, sizes: sizes}
		pieces, piecesErr := frameUnits(&parts, fm, nil, 1<<20)
		if strings.Join(whole, "\x00") != strings.Join(pieces, "\x00") || len(whole) != len(pieces) {
			t.Fatalf("%v: units %q read whole, %q in pieces", fm, whole, pieces)
		}
		if kind(wholeErr) != kind(piecesErr) {
			t.Fatalf("%v: ended with %v read whole, %v in pieces", fm, wholeErr, piecesErr)
		}
		rest := in
		for _, u := range whole {
			i := bytes.Index(rest, []byte(u))
			if i < 0 || u == "" {
				t.Fatalf("%v: unit %q is not the next part of the input", fm, u)
			}
			rest = rest[i+len(u):]
		}
		if fm != FormatJSON {
			return
		}
		var decoded []string
		dec := json.NewDecoder(bytes.NewReader(in))
		var decErr error
		for {
			var v json.RawMessage
			if decErr = dec.Decode(&v); decErr != nil {
				break
			}
			decoded = append(decoded, string(v))
		}
		allValid := wholeErr == io.EOF
		for _, u := range whole {
			allValid = allValid && json.Valid([]byte(u))
		}
		if allValid && (decErr != io.EOF || strings.Join(decoded, "\x00") != strings.Join(whole, "\x00")) {
			t.Fatalf("framer read %q cleanly; encoding/json read %q, %v", whole, decoded, decErr)
		}
		if decErr == io.EOF && (wholeErr != io.EOF || strings.Join(decoded, "\x00") != strings.Join(whole, "\x00")) {
			t.Fatalf("encoding/json read %q; the framer read %q, %v", decoded, whole, wholeErr)
		}
	})
}

// kind names the way a framing ended, for comparing two readings.
func kind(err error) string {
	switch {
	case err == io.EOF:
		return "eof"
	case errors.Is(err, errTruncated):
		return "truncated"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrMessageTooLarge):
		return "too large"
	}
	return "other: " + err.Error()
}
