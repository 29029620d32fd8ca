package transport

import (
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// sizedReader hands out its text a few bytes per Read, cycling through
// sizes, as a network might.
type sizedReader struct {
	text  []byte
	sizes []int
	reads int
}

func (c *sizedReader) Read(p []byte) (int, error) {
	if len(c.text) == 0 {
		return 0, io.EOF
	}
	k := min(c.sizes[c.reads%len(c.sizes)], len(p), len(c.text))
	c.reads++
	copy(p, c.text[:k])
	c.text = c.text[k:]
	return k, nil
}

// TestDecodeReader_sameAsDecode: for every seed body of the fuzz targets
// and more, read in chunks of many sizes, decodeReader returns exactly the
// messages and the error class decode returns for the whole body.
func TestDecodeReader_sameAsDecode(t *testing.T) {
	bodies := fuzzSeedBodies()
	bodies = append(bodies,
		[]byte(` [ {"id":1,"data":"a"} , null , {"id":"2","event":"e","data":{"x":[1,2,{"y":"}"}]}} ] `),
		[]byte("[]"), []byte(" [ ] \n"), []byte("[,]"), []byte(`[{"id":1},]`), []byte(`[{"id":1}`),
		[]byte(`[{"id":1}] x`), []byte("[{\"id\":1}]\u00a0"), []byte("\u00a0[{\"id\":1}]"), []byte(`[1]`),
		[]byte(`[{"id":true}]`), []byte(`[nul]`), []byte(`[null]`), []byte(`{"messages":[{"id":1}]}`),
		[]byte(`[{"id":1,"data":"\u00e9\n"},{"id":2,"data":"`+strings.Repeat("z", 70000)+`"}]`))
	for bi, body := range bodies {
		want, wantErr := (&envDecoder{}).decode(nil, slices.Clone(body))
		for _, sizes := range [][]int{{1}, {2}, {3, 1, 7}, {64}, {4096}, {1 << 20}} {
			var d envDecoder
			got, err := d.decodeReader(&sizedReader{text: slices.Clone(body), sizes: sizes}, 1<<30)
			if (err == nil) != (wantErr == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("body %d %.60q, reads of %v: error %v, decode's %v", bi, body, sizes, err, wantErr)
			}
			if err != nil {
				continue
			}
			if len(got) != len(want) {
				t.Fatalf("body %d, reads of %v: %d messages, decode %d", bi, sizes, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID || got[i].Event != want[i].Event || string(got[i].Data) != string(want[i].Data) {
					t.Fatalf("body %d, reads of %v: message %d is %+v, decode's %+v", bi, sizes, i, got[i], want[i])
				}
			}
		}
	}
}

// TestDecodeReader_boundedBuffer: a body of many messages is never held
// whole: the read buffer stays near one read, whatever the body's length;
// a body over the limit fails as too large, even when it is malformed
// before the limit; a read error is returned as it is.
func TestDecodeReader_boundedBuffer(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 20000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"id":` + strconv.Itoa(i) + `,"event":"tick","data":{"text":"` + strings.Repeat("x", 100) + `"}}`)
	}
	b.WriteString("]")
	body := []byte(b.String())
	var d envDecoder
	a := arrayDecoder{d: &d, r: &sizedReader{text: body, sizes: []int{1500}}, limit: 1 << 30}
	msgs, err := a.run()
	if err != nil || len(msgs) != 20000 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if cap(a.buf) > 64<<10 {
		t.Fatalf("read buffer of %d bytes for a body of %d", cap(a.buf), len(body))
	}

	_, err = d.decodeReader(&sizedReader{text: body, sizes: []int{4096}}, int64(len(body)-1))
	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("body one byte over the limit: %v", err)
	}
	_, err = d.decodeReader(&sizedReader{text: append([]byte("[1,"), body...), sizes: []int{4096}}, int64(len(body)))
	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("malformed body over the limit: %v", err)
	}
	boom := errors.New("connection reset")
	_, err = d.decodeReader(iotest.ErrReader(boom), 1<<20)
	if !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
}

// TestDecodeReader_slowMessage: a 1 MiB message arriving a byte per read
// is parsed a bounded number of times (each parse of an unfinished element
// waits until what is buffered has doubled), not once per read.
func TestDecodeReader_slowMessage(t *testing.T) {
	body := []byte(`[{"id":1,"data":"` + strings.Repeat("y", 1<<20) + `"}]`)
	var d envDecoder
	cr := &sizedReader{text: body, sizes: []int{1}}
	parses := 0
	a := arrayDecoder{d: &d, r: cr, limit: 1 << 30, onParse: func() { parses++ }}
	msgs, err := a.run()
	if err != nil || len(msgs) != 1 || len(msgs[0].Data) != 1<<20+2 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if parses > 40 {
		t.Fatalf("%d parses over %d reads", parses, cr.reads)
	}
}
