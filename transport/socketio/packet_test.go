package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

func TestDecodeSIO(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		typ   byte
		att   int
		nsp   string
		ack   int64
		data  string
		isErr bool
	}{
		{name: "connect", in: "0", typ: sioConnect, nsp: "/", ack: -1},
		{name: "connect with auth", in: `0{"token":"123"}`, typ: sioConnect, nsp: "/", ack: -1, data: `{"token":"123"}`},
		{name: "connect to a namespace", in: `0/admin,{"token":"123"}`, typ: sioConnect, nsp: "/admin", ack: -1, data: `{"token":"123"}`},
		{name: "connect answer", in: `0{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"bxf"}`, typ: sioConnect, nsp: "/", ack: -1, data: `{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"bxf"}`},
		{name: "disconnect", in: "1", typ: sioDisconnect, nsp: "/", ack: -1},
		{name: "disconnect of a namespace", in: "1/admin,", typ: sioDisconnect, nsp: "/admin", ack: -1},
		{name: "namespace without comma", in: "1/admin", typ: sioDisconnect, nsp: "/admin", ack: -1},
		{name: "event", in: `2["hey","Jude"]`, typ: sioEvent, nsp: "/", ack: -1, data: `["hey","Jude"]`},
		{name: "event in a namespace", in: `2/chat,["msg",{"a":1}]`, typ: sioEvent, nsp: "/chat", ack: -1, data: `["msg",{"a":1}]`},
		{name: "event asking for an ack", in: `212["foo"]`, typ: sioEvent, nsp: "/", ack: 12, data: `["foo"]`},
		{name: "event in a namespace asking for an ack", in: `2/admin,13["foo"]`, typ: sioEvent, nsp: "/admin", ack: 13, data: `["foo"]`},
		{name: "ack", in: `312["bar"]`, typ: sioAck, nsp: "/", ack: 12, data: `["bar"]`},
		{name: "connect error", in: `4{"message":"Not authorized"}`, typ: sioConnectError, nsp: "/", ack: -1, data: `{"message":"Not authorized"}`},
		{name: "binary event", in: `51-["baz",{"_placeholder":true,"num":0}]`, typ: sioBinaryEvent, att: 1, nsp: "/", ack: -1, data: `["baz",{"_placeholder":true,"num":0}]`},
		{name: "binary ack in a namespace", in: `62-/admin,15[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, typ: sioBinaryAck, att: 2, nsp: "/admin", ack: 15, data: `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
		{name: "empty", in: "", isErr: true},
		{name: "unknown type", in: "7", isErr: true},
		{name: "bad JSON", in: `2["a"`, isErr: true},
		{name: "event payload not an array", in: `2{"a":1}`, isErr: true},
		{name: "connect payload not an object", in: `0["a"]`, isErr: true},
		{name: "attachments without dash", in: `51["a"]`, isErr: true},
		{name: "too many attachments", in: `511-["a"]`, isErr: true},
		{name: "ack id too large", in: `29007199254740993["a"]`, isErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeSIO([]byte(tt.in), 10)
			if tt.isErr {
				if !errors.Is(err, errSIOPacket) {
					t.Fatalf("err = %v, want errSIOPacket", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.typ != tt.typ || p.attachments != tt.att || p.nsp != tt.nsp || p.ack != tt.ack || string(p.data) != tt.data {
				t.Fatalf("got %c att=%d nsp=%q ack=%d data=%s", p.typ, p.attachments, p.nsp, p.ack, p.data)
			}
			// What decodes, encodes back the same (attachments aside).
			if tt.att == 0 && tt.in != "1/admin" {
				if back := appendSIO(nil, p.typ, p.nsp, p.ack, p.data); string(back) != tt.in {
					t.Fatalf("encoded back as %q", back)
				}
			}
		})
	}
}

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		offsets bool
		event   string
		args    string
		offset  string
		isErr   bool
	}{
		{name: "name only", data: `["tick"]`, event: "tick", args: `[]`},
		{name: "arguments", data: `["price",{"p":1},[1,2],"x"]`, event: "price", args: `[{"p":1},[1,2],"x"]`},
		{name: "offset stripped", data: `["price",{"p":1},"MzUPkW0"]`, offsets: true, event: "price", args: `[{"p":1}]`, offset: "MzUPkW0"},
		{name: "offset alone", data: `["tick","MzUPkW0.1"]`, offsets: true, event: "tick", args: `[]`, offset: "MzUPkW0.1"},
		{name: "no offset when the last is not a string", data: `["price",1]`, offsets: true, event: "price", args: `[1]`},
		{name: "name without offset", data: `["tick"]`, offsets: true, event: "tick", args: `[]`},
		{name: "white space", data: ` [ "a" , { "x" : "]" } , "o\"1" ] `, offsets: true, event: "a", args: `[{ "x" : "]" }]`, offset: `o"1`},
		{name: "numeric name", data: `[42,"x"]`, event: "42", args: `["x"]`},
		{name: "escaped name", data: `["\u00e9v\"t"]`, event: "év\"t", args: `[]`},
		{name: "empty array", data: `[]`, isErr: true},
		{name: "object name", data: `[{"a":1}]`, isErr: true},
		{name: "null name", data: `[null]`, isErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := splitEvent([]byte(tt.data), tt.offsets)
			if tt.isErr {
				if err == nil {
					t.Fatalf("no error, got %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.name != tt.event || string(ev.args) != tt.args || ev.offset != tt.offset {
				t.Fatalf("got name %q args %s offset %q", ev.name, ev.args, ev.offset)
			}
			if !json.Valid(ev.args) {
				t.Fatalf("args %s are not JSON", ev.args)
			}
		})
	}
}

func TestFillPlaceholders(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		atts  [][]byte
		want  string
		isErr bool
	}{
		{name: "one", data: `["file",{"_placeholder":true,"num":0}]`, atts: [][]byte{{1, 2, 3}},
			want: `["file",{"base64":"AQID"}]`},
		{name: "nested, numbers kept", data: `["f",{"b":[{"_placeholder":true,"num":1}],"n":12345678901234567890},{"_placeholder":true,"num":0}]`,
			atts: [][]byte{{0}, {255}}, want: `["f",{"b":[{"base64":"/w=="}],"n":12345678901234567890},{"base64":"AA=="}]`},
		{name: "unused attachment", data: `["f"]`, atts: [][]byte{{0}}, isErr: true},
		{name: "out of range", data: `["f",{"_placeholder":true,"num":1}]`, atts: [][]byte{{0}}, isErr: true},
		{name: "not a placeholder", data: `["f",{"_placeholder":true,"num":0,"x":1},{"_placeholder":true,"num":0}]`, atts: [][]byte{{7}},
			want: `["f",{"_placeholder":true,"num":0,"x":1},{"base64":"Bw=="}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fillPlaceholders([]byte(tt.data), tt.atts)
			if tt.isErr {
				if err == nil {
					t.Fatalf("no error, got %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, []byte(tt.want)) || !bytes.Contains(got, []byte("12345678901234567890")) && bytes.Contains([]byte(tt.want), []byte("1234567890")) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// FuzzSIOPacket checks that any Engine.IO message data reads as a
// Socket.IO packet without panic, that what reads encodes back to
// something that reads the same, and that an event's pieces are valid
// JSON taken from it.
func FuzzSIOPacket(f *testing.F) {
	for _, s := range []string{`0`, `0/admin,{"token":"1"}`, `2["hey","Jude"]`, `2/chat,12["a",1,"off"]`,
		`51-["baz",{"_placeholder":true,"num":0}]`, `4{"message":"no"}`, `1/x,`, `3[]`, `2[" ]\"",[{"]":"["}]]`, `29999999999999999999[1]`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, offsets bool) {
		p, err := decodeSIO(in, 10)
		if err != nil {
			return
		}
		if p.attachments > 10 || p.attachments < 0 {
			t.Fatalf("attachments %d", p.attachments)
		}
		if p.attachments == 0 && p.typ != sioBinaryEvent && p.typ != sioBinaryAck {
			back := appendSIO(nil, p.typ, p.nsp, p.ack, p.data)
			q, err := decodeSIO(back, 10)
			if err != nil || q.typ != p.typ || q.nsp != p.nsp || q.ack != p.ack || !bytes.Equal(q.data, p.data) {
				if !(p.nsp != "/" && p.data == nil && p.ack < 0 && len(back) > 0) { // "1/x" and "1/x," read alike
					t.Fatalf("%q read as %+v; encoded back %q read as %+v (%v)", in, p, back, q, err)
				}
			}
		}
		if (p.typ == sioEvent || p.typ == sioBinaryEvent) && p.data != nil {
			ev, err := splitEvent(p.data, offsets)
			if err != nil {
				return
			}
			if !json.Valid(ev.args) {
				t.Fatalf("args %q of %q are not JSON", ev.args, in)
			}
			if _, err := strconv.Unquote(strconv.Quote(ev.name)); err != nil {
				t.Fatal(err)
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(p.data, &arr); err != nil {
				t.Fatalf("event data %q is not an array: %v", p.data, err)
			}
			want := len(arr) - 1
			if ev.offset != "" {
				want--
			}
			var args []json.RawMessage
			if err := json.Unmarshal(ev.args, &args); err != nil || len(args) != want {
				t.Fatalf("args %s of %s: %d elements, want %d (%v)", ev.args, p.data, len(args), want, err)
			}
		}
	})
}

// jsonEqual reports whether a and b hold the same JSON value (or, when
// either is not JSON, the same bytes).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
