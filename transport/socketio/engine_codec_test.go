package socketio

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/anysub/anysub/transport"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		limit int64
		want  []string // packets as packet.String shows them
		err   error
	}{
		{name: "one packet", body: "4hello", want: []string{"4hello"}},
		{name: "joined", body: "4hello\x1e2\x1e4world", want: []string{"4hello", "2", "4world"}},
		{name: "open", body: `0{"sid":"a"}`, want: []string{`0{"sid":"a"}`}},
		{name: "binary", body: "bAQID", want: []string{"binary(3)"}},
		{name: "binary between text", body: "451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID\x1e6", want: []string{"451-[\"x\",{\"_placeholder\":true,\"num\":0}]", "binary(3)", "6"}},
		{name: "empty message", body: "4", want: []string{"4"}},
		{name: "noop and close", body: "6\x1e1", want: []string{"6", "1"}},
		{name: "empty body", body: "", err: errEngineFrame},
		{name: "empty record", body: "4a\x1e\x1e4b", err: errEngineFrame},
		{name: "trailing separator", body: "4a\x1e", err: errEngineFrame},
		{name: "unknown type", body: "7x", err: errEngineFrame},
		{name: "bad base64", body: "b!!!", err: errEngineFrame},
		{name: "over the limit", body: "4" + strings.Repeat("x", 11), limit: 10, err: transport.ErrMessageTooLarge},
		{name: "binary over the limit", body: "bAAAAAAAAAAAAAAAA", limit: 10, err: transport.ErrMessageTooLarge},
		{name: "at the limit", body: "4" + strings.Repeat("x", 10), limit: 10, want: []string{"4" + strings.Repeat("x", 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 20
			}
			got, err := decodePayload([]byte(tt.body), limit)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var shown []string
			for _, p := range got {
				shown = append(shown, p.String())
			}
			if strings.Join(shown, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", shown, tt.want)
			}
		})
	}
}

func TestEncodePayload_roundTrip(t *testing.T) {
	ps := []packet{
		{typ: engineMessage, data: []byte("40")},
		{typ: enginePong},
		{typ: engineMessage, data: []byte{0, 1, 2, 255}, binary: true},
		{typ: engineMessage, data: []byte(`42["message","a\u001eb"]`)},
	}
	body := encodePayload(ps)
	if want := "440\x1e3\x1ebAAEC/w==\x1e" + `442["message","a\u001eb"]`; string(body) != want {
		t.Fatalf("encoded %q, want %q", body, want)
	}
	got, err := decodePayload(body, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ps) {
		t.Fatalf("%d packets back, want %d", len(got), len(ps))
	}
	for i := range ps {
		if got[i].typ != ps[i].typ || got[i].binary != ps[i].binary || !bytes.Equal(got[i].data, ps[i].data) {
			t.Errorf("packet %d = %v, want %v", i, got[i], ps[i])
		}
	}
}

func TestParseOpen(t *testing.T) {
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"defaults", `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, true},
		{"no upgrades", `{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1}`, true},
		{"no sid", `{"upgrades":[],"pingInterval":1,"pingTimeout":1}`, false},
		{"no ping interval", `{"sid":"a","pingTimeout":1}`, false},
		{"a day between pings", `{"sid":"a","pingInterval":86400001,"pingTimeout":1}`, false},
		{"not JSON", `sid=a`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseOpen([]byte(tt.data))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && h.MaxPayload < minMaxPayload {
				t.Fatalf("maxPayload %d", h.MaxPayload)
			}
		})
	}
}

// FuzzEnginePayload checks that any polling body decodes without panic,
// within the limit, and that what decodes encodes back to a body that
// decodes to the same packets.
func FuzzEnginePayload(f *testing.F) {
	for _, s := range []string{"4hello\x1e2\x1e4world", "bAQID", "6\x1e1", "0{\"sid\":\"a\"}", "4a\x1e\x1e", "b", "b====", "451-[\"x\"]\x1ebAA=="} {
		f.Add([]byte(s), int64(16))
	}
	f.Fuzz(func(t *testing.T, body []byte, limit int64) {
		limit = max(1, limit%(1<<16))
		ps, err := decodePayload(body, limit)
		if err != nil {
			return
		}
		for _, p := range ps {
			if int64(len(p.data)) > limit {
				t.Fatalf("packet of %d bytes passed limit %d", len(p.data), limit)
			}
		}
		again, err := decodePayload(encodePayload(ps), limit)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if len(again) != len(ps) {
			t.Fatalf("%d packets, then %d", len(ps), len(again))
		}
		for i := range ps {
			if again[i].typ != ps[i].typ || again[i].binary != ps[i].binary || !bytes.Equal(again[i].data, ps[i].data) {
				t.Fatalf("packet %d: %v then %v", i, ps[i], again[i])
			}
		}
	})
}
