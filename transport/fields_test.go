package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fieldsCase is one input for the Decoder of a Fields; want lists messages
// as fieldsMsgString renders them, wantErr means ErrMalformed.
type fieldsCase struct {
	name    string
	fields  Fields
	body    string
	want    []string
	wantErr bool
}

func fieldsMsgString(m Message) string { return m.ID + "|" + m.Event + "|" + string(m.Data) }

var (
	fieldsTrade   = Fields{ID: "u", Event: "e", Data: "p"}
	fieldsMeta    = Fields{ID: "meta.seq", Event: "meta.kind", Data: "body.value"}
	fieldsWhole   = Fields{Data: "."}
	fieldsPubs    = Fields{ID: "offset", Items: "result.publications"}
	fieldsNoItems = Fields{Items: "-"}
)

// fieldsCases are the table of the Decoder tests, grouped by the rule they
// exercise; FuzzFields starts from them.
var fieldsDefaultCases = []fieldsCase{
	{name: "empty", body: ""},
	{name: "whitespace", body: " \n\t\r "},
	{name: "null", body: "null"},
	{name: "null in whitespace", body: "\n null \n"},
	{name: "empty array", body: "[]"},
	{name: "empty messages", body: `{"messages":[]}`},
	{name: "envelope", body: `{"id":1,"event":"e","data":{"a":1}}`, want: []string{`1|e|{"a":1}`}},
	{name: "envelope in whitespace", body: "\n {\"id\" : 1 , \"data\" : [ 1 , 2 ] } \n", want: []string{`1||[ 1 , 2 ]`}},
	{name: "array", body: `[{"id":1,"data":"a"},{"id":2,"event":"e","data":"b"}]`, want: []string{`1||"a"`, `2|e|"b"`}},
	{name: "messages", body: `{"messages":[{"id":1,"data":"x"}],"next":5}`, want: []string{`1||"x"`}},
	{name: "messages win over own fields", body: `{"id":9,"data":"self","messages":[{"id":1,"data":2}]}`, want: []string{`1||2`}},
	{name: "unknown fields ignored", body: `{"id":1,"ts":"2024","meta":{"a":1},"data":true}`, want: []string{`1||true`}},
	{name: "keys are case-sensitive", body: `{"ID":1,"Event":"E","Data":2}`, want: []string{`||{"ID":1,"Event":"E","Data":2}`}},
	{name: "escaped keys", body: `{"\u0069d":"x","\u0065vent":"e","d\u0061ta":1}`, want: []string{`x|e|1`}},
	{name: "invalid utf-8 kept", body: "{\"data\":\"\xff\"}", want: []string{"||\"\xff\""}},
}

var fieldsPathCases = []fieldsCase{
	{name: "trade", fields: fieldsTrade, body: `{"u":1042,"e":"trade","p":{"x":1}}`, want: []string{`1042|trade|{"x":1}`}},
	{name: "trade ignores default names", fields: fieldsTrade, body: `{"id":1,"event":"x","data":2,"p":3}`, want: []string{`||3`}},
	{name: "trade without data is whole", fields: fieldsTrade, body: `{"u":1,"e":"t"}`, want: []string{`1|t|{"u":1,"e":"t"}`}},
	{name: "nested", fields: fieldsMeta, body: `{"meta":{"seq":7,"kind":"k","ts":1},"body":{"value":[1]}}`, want: []string{`7|k|[1]`}},
	{name: "nested deeper", fields: Fields{ID: "a.b.c", Data: "x.y"}, body: `{"a":{"b":{"c":"deep"}},"x":{"y":null}}`, want: []string{`deep||null`}},
	{name: "nested key missing", fields: fieldsMeta, body: `{"meta":{"ts":1},"body":{}}`, want: []string{`||{"meta":{"ts":1},"body":{}}`}},
	{name: "nested through a number", fields: fieldsMeta, body: `{"meta":5,"body":"x"}`, want: []string{`||{"meta":5,"body":"x"}`}},
	{name: "nested through an array", fields: fieldsMeta, body: `{"meta":[{"seq":1}],"body":{"value":2}}`, want: []string{`||2`}},
	{name: "nested through null", fields: fieldsMeta, body: `{"meta":null,"body":{"value":2}}`, want: []string{`||2`}},
	{name: "dotted key is not a path", fields: fieldsMeta, body: `{"meta.seq":1,"body":{"value":2}}`, want: []string{`||2`}},
	{name: "nested in a list", fields: fieldsMeta, body: `[{"meta":{"seq":1},"body":{"value":"a"}},{"meta":{"seq":2},"body":{"value":"b"}}]`, want: []string{`1||"a"`, `2||"b"`}},
	{name: "escaped nested key", fields: fieldsMeta, body: `{"meta":{"s\u0065q":3},"body":{"value":0}}`, want: []string{`3||0`}},
	{name: "non-ascii key", fields: Fields{ID: "clé"}, body: `{"clé":1,"data":0}`, want: []string{`1||0`}},
	{name: "non-ascii key escaped", fields: Fields{ID: "clé"}, body: `{"cl\u00e9":2,"data":0}`, want: []string{`2||0`}},
	{name: "non-ascii nested key", fields: Fields{ID: "é.ü"}, body: `{"é":{"\u00fc":3},"data":0}`, want: []string{`3||0`}},
}

var fieldsValueCases = []fieldsCase{
	// Ids.
	{name: "number id", body: `{"id":1042}`, want: []string{`1042||{"id":1042}`}},
	{name: "negative id", body: `{"id":-3,"data":0}`, want: []string{`-3||0`}},
	{name: "float id as written", body: `{"id":1.50e3,"data":0}`, want: []string{`1.50e3||0`}},
	{name: "huge id exact", body: `{"id":123456789012345678901234567890,"data":0}`, want: []string{`123456789012345678901234567890||0`}},
	{name: "string id", body: `{"id":"abc-1","data":0}`, want: []string{`abc-1||0`}},
	{name: "escaped string id", body: `{"id":"caf\u00e9\n","data":0}`, want: []string{"café\n||0"}},
	{name: "empty string id", body: `{"id":"","data":0}`, want: []string{`||0`}},
	{name: "null id", body: `{"id":null,"data":0}`, want: []string{`||0`}},
	{name: "object id", body: `{"id":{"n":1},"data":0}`, want: []string{`||0`}},
	{name: "array id", body: `{"id":[1],"data":0}`, want: []string{`||0`}},
	{name: "bool id", body: `{"id":true,"data":0}`, want: []string{`||0`}},
	{name: "lone surrogate id", body: `{"id":"\ud800","data":0}`, want: []string{"\ufffd||0"}},
	// Events.
	{name: "number event", body: `{"event":7,"data":0}`, want: []string{`|7|0`}},
	{name: "escaped event", body: `{"event":"a\"b","data":0}`, want: []string{`|a"b|0`}},
	{name: "object event", body: `{"event":{},"data":0}`, want: []string{`||0`}},
	{name: "bool event", body: `{"event":false,"data":0}`, want: []string{`||0`}},
	// Data.
	{name: "string data stays quoted", body: `{"data":"hi \"there\""}`, want: []string{`||"hi \"there\""`}},
	{name: "number data as written", body: `{"data":12.50}`, want: []string{`||12.50`}},
	{name: "null data", body: `{"data":null}`, want: []string{`||null`}},
	{name: "object data raw", body: `{"data":{"a": [1, 2], "b": {}}}`, want: []string{`||{"a": [1, 2], "b": {}}`}},
	{name: "missing data is the whole object", body: `{"id":1,"event":"ping"}`, want: []string{`1|ping|{"id":1,"event":"ping"}`}},
	{name: "whole value", fields: fieldsWhole, body: `{"id":1,"data":2}`, want: []string{`1||{"id":1,"data":2}`}},
	{name: "whole value in a list", fields: fieldsWhole, body: `[{"id":1},{"id":2,"data":0}]`, want: []string{`1||{"id":1}`, `2||{"id":2,"data":0}`}},
	// Repeated keys: the last wins.
	{name: "repeated keys", body: `{"id":1,"id":2,"data":1,"data":2}`, want: []string{`2||2`}},
	{name: "repeated event ends null", body: `{"event":"a","event":null,"data":0}`, want: []string{`||0`}},
	{name: "repeated parent", fields: fieldsMeta, body: `{"meta":{"seq":1},"meta":{"kind":"k"},"body":{"value":0}}`, want: []string{`|k|0`}},
	{name: "repeated messages", body: `{"messages":[{"id":1}],"messages":null}`, want: []string{`||{"messages":[{"id":1}],"messages":null}`}},
}

var fieldsShapeCases = []fieldsCase{
	// Lists.
	{name: "list of mixed values", body: `[1,"a",[2, 3],null,true,{"id":1,"data":0}]`, want: []string{`||1`, `||"a"`, `||[2, 3]`, `||true`, `1||0`}},
	{name: "list of nulls", body: `[null,null]`},
	{name: "nested list not expanded", body: `[[{"id":1}]]`, want: []string{`||[{"id":1}]`}},
	{name: "list element messages not expanded", body: `[{"messages":[{"id":1}]}]`, want: []string{`||{"messages":[{"id":1}]}`}},
	// Items.
	{name: "messages of mixed values", body: `{"messages":[null,{"id":1,"data":0},5,"s"]}`, want: []string{`1||0`, `||5`, `||"s"`}},
	{name: "messages null is one message", body: `{"messages":null}`, want: []string{`||{"messages":null}`}},
	{name: "messages object is one message", body: `{"messages":{"id":1}}`, want: []string{`||{"messages":{"id":1}}`}},
	{name: "messages number is one message", body: `{"id":2,"messages":5,"data":1}`, want: []string{`2||1`}},
	{name: "items custom", fields: fieldsPubs, body: `{"result":{"channel":"c","publications":[{"offset":5,"data":{"x":1}},{"offset":6,"data":{"x":2}}]}}`, want: []string{`5||{"x":1}`, `6||{"x":2}`}},
	{name: "items custom empty", fields: fieldsPubs, body: `{"result":{"publications":[]}}`},
	{name: "items custom missing", fields: fieldsPubs, body: `{"result":{"channel":"c"},"offset":1}`, want: []string{`1||{"result":{"channel":"c"},"offset":1}`}},
	{name: "items custom ignores default", fields: fieldsPubs, body: `{"messages":[1],"data":2}`, want: []string{`||2`}},
	{name: "items none", fields: fieldsNoItems, body: `{"messages":[1,2]}`, want: []string{`||{"messages":[1,2]}`}},
	{name: "items none list", fields: fieldsNoItems, body: `[{"id":1},{"id":2}]`, want: []string{`1||{"id":1}`, `2||{"id":2}`}},
	{name: "items with whole data", fields: Fields{Data: ".", Items: "m"}, body: `{"m":[{"id":1}]}`, want: []string{`1||{"id":1}`}},
	// Scalars.
	{name: "string", body: `"hello"`, want: []string{`||"hello"`}},
	{name: "number", body: ` -1.5e3 `, want: []string{`||-1.5e3`}},
	{name: "true", body: `true`, want: []string{`||true`}},
	{name: "false", body: `false`, want: []string{`||false`}},
	{name: "scalar ignores paths", fields: fieldsTrade, body: `42`, want: []string{`||42`}},
}

var fieldsMalformedCases = []fieldsCase{
	{name: "truncated object", body: `{"id":1`, wantErr: true},
	{name: "truncated list", body: `[{"id":1}`, wantErr: true},
	{name: "truncated value", body: `{"id":1,"data":`, wantErr: true},
	{name: "truncated string", body: `"abc`, wantErr: true},
	{name: "truncated literal", body: `nul`, wantErr: true},
	{name: "trailing garbage", body: `{} x`, wantErr: true},
	{name: "two objects", body: `{}{}`, wantErr: true},
	{name: "two scalars", body: `1 2`, wantErr: true},
	{name: "two lists", body: `[] []`, wantErr: true},
	{name: "null then more", body: `null null`, wantErr: true},
	{name: "nul after the value", body: "{}\x00", wantErr: true},
	{name: "html", body: "<html><body>Log in to the Wi-Fi</body></html>", wantErr: true},
	{name: "plain text", body: "hello", wantErr: true},
	{name: "trailing comma", body: `[1,]`, wantErr: true},
	{name: "missing colon", body: `{"a" 1}`, wantErr: true},
	{name: "leading zero", body: `01`, wantErr: true},
	{name: "bad escape", body: `"\q"`, wantErr: true},
	{name: "control character", body: "\"\x01\"", wantErr: true},
	{name: "bad in items", body: `{"messages":[{"id":1},{"id":}]}`, wantErr: true},
	{name: "bad in an unused value", fields: fieldsTrade, body: `{"u":1,"junk":[1,2,}`, wantErr: true},
	{name: "bad after items", body: `{"messages":[],"x":tru}`, wantErr: true},
	{name: "too deep", body: strings.Repeat("[", 10001) + strings.Repeat("]", 10001), wantErr: true},
	{name: "too deep in an object", fields: Fields{Data: "a"}, body: strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001), wantErr: true},
}

// fieldsDeepCases are deep but within the nesting limit.
var fieldsDeepCases = []fieldsCase{
	{name: "deepest list", body: strings.Repeat("[", 10000) + strings.Repeat("]", 10000), want: []string{"||" + strings.Repeat("[", 9999) + strings.Repeat("]", 9999)}},
	{name: "deep path", fields: Fields{ID: strings.TrimSuffix(strings.Repeat("a.", 300), ".")}, body: strings.Repeat(`{"a":`, 300) + `"x"` + strings.Repeat("}", 300), want: []string{"x||" + strings.Repeat(`{"a":`, 300) + `"x"` + strings.Repeat("}", 300)}},
}

// fieldsBadPathCases use paths that Validate rejects: the Decoder reads an
// empty key as the key "".
var fieldsBadPathCases = []fieldsCase{
	{name: "empty key in the middle", fields: Fields{ID: "a..b"}, body: `{"a":{"":{"b":1}},"data":0}`, want: []string{`1||0`}},
	{name: "dot id", fields: Fields{ID: ".", Event: ".x", Items: "."}, body: `{"":{"":3,"x":"e"},"data":0}`, want: []string{`3|e|0`}},
	{name: "trailing dot data", fields: Fields{Data: "d."}, body: `{"d":{"":5}}`, want: []string{`||5`}},
}

var fieldsCaseGroups = []struct {
	name  string
	cases []fieldsCase
}{
	{"defaults", fieldsDefaultCases},
	{"paths", fieldsPathCases},
	{"values", fieldsValueCases},
	{"shapes", fieldsShapeCases},
	{"malformed", fieldsMalformedCases},
	{"deep", fieldsDeepCases},
	{"bad paths", fieldsBadPathCases},
}

func runFieldsCases(t *testing.T, cases []fieldsCase) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := tt.fields.Decoder()([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) || msgs != nil {
					t.Fatalf("%+v decoding %.60q = %+v, %v; want ErrMalformed", tt.fields, tt.body, msgs, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%+v decoding %.60q: %v", tt.fields, tt.body, err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, fieldsMsgString(m))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%+v decoding %.60q = %q, want %q", tt.fields, tt.body, got, tt.want)
			}
		})
	}
}

func TestFields_Decoder_defaults(t *testing.T)  { runFieldsCases(t, fieldsDefaultCases) }
func TestFields_Decoder_paths(t *testing.T)     { runFieldsCases(t, fieldsPathCases) }
func TestFields_Decoder_values(t *testing.T)    { runFieldsCases(t, fieldsValueCases) }
func TestFields_Decoder_shapes(t *testing.T)    { runFieldsCases(t, fieldsShapeCases) }
func TestFields_Decoder_malformed(t *testing.T) { runFieldsCases(t, fieldsMalformedCases) }
func TestFields_Decoder_deep(t *testing.T)      { runFieldsCases(t, fieldsDeepCases) }
func TestFields_Decoder_badPaths(t *testing.T)  { runFieldsCases(t, fieldsBadPathCases) }

// TestFields_Decoder_matchesReference holds every table case to fieldsStd,
// the rules written again on encoding/json.
func TestFields_Decoder_matchesReference(t *testing.T) {
	for _, g := range fieldsCaseGroups {
		for _, tt := range g.cases {
			t.Run(g.name+"/"+tt.name, func(t *testing.T) {
				checkFieldsReference(t, tt.fields, []byte(tt.body))
			})
		}
	}
}

func TestFields_Decoder_doesNotAliasInput(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fields Fields
		body   string
		want   []string
	}{
		{name: "object", body: `{"id":"a","event":"e","data":{"k":"v"}}`, want: []string{`a|e|{"k":"v"}`}},
		{name: "list", fields: fieldsTrade, body: `[{"u":"x","e":"t","p":[1]},7,{"u":2}]`, want: []string{`x|t|[1]`, `||7`, `2||{"u":2}`}},
		{name: "items", fields: fieldsPubs, body: `{"result":{"publications":[{"offset":"o\u0031","data":"s"}]}}`, want: []string{`o1||"s"`}},
		{name: "scalar", body: `"text"`, want: []string{`||"text"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			msgs, err := tt.fields.Decoder()(body)
			if err != nil {
				t.Fatal(err)
			}
			for i := range body {
				body[i] = 'X'
			}
			var got []string
			for _, m := range msgs {
				got = append(got, fieldsMsgString(m))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("after overwriting the input the messages read %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFields_Decoder_dataDoNotShareCapacity(t *testing.T) {
	msgs, err := Fields{}.Decoder()([]byte(`[{"data":"aa"},{"data":"bb"}]`))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("decode = %+v, %v", msgs, err)
	}
	_ = append(msgs[0].Data, 'X') // must not write into the next message's data
	if string(msgs[1].Data) != `"bb"` {
		t.Errorf("appending to one message's data changed the next one: %q", msgs[1].Data)
	}
}

// fieldsBenchFrame is a typical market-data frame of about 200 bytes.
const fieldsBenchFrame = `{"u":1042,"type":"trade","payload":{"symbol":"BTC-USD","price":"64123.50","size":"0.01250000","side":"buy","trade_id":987654321,"maker":false,"time":"2024-05-01T12:34:56.789Z"},"seq":55123}`

func TestFields_Decoder_allocations(t *testing.T) {
	trades := Fields{ID: "u", Event: "type", Data: "payload"}.Decoder()
	list := []byte(`[` + strings.Repeat(fieldsBenchFrame+",", 7) + fieldsBenchFrame + `]`)
	for _, tt := range []struct {
		name string
		dec  Decoder
		body []byte
		max  float64
	}{
		// The messages, one block for all data, one string for all ids
		// and event names.
		{"frame", trades, []byte(fieldsBenchFrame), 3},
		{"list of 8", trades, list, 3},
		{"nested paths", Fields{ID: "meta.seq", Event: "meta.kind"}.Decoder(), []byte(`{"meta":{"seq":1,"kind":"k"},"data":[1,2]}`), 3},
		{"no ids", Fields{}.Decoder(), []byte(`{"data":{"a":1}}`), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, func() { _, _ = tt.dec(tt.body) }); allocs > tt.max {
				t.Errorf("decoding allocates %v times, want at most %v", allocs, tt.max)
			}
		})
	}
}

func TestFields_Decoder_concurrentUse(t *testing.T) {
	dec := Fields{ID: "u", Event: "type", Data: "payload"}.Decoder()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := fmt.Sprintf(`{"u":%d,"type":"t%d","payload":[%d]}`, i, g, i)
				msgs, err := dec([]byte(body))
				want := fmt.Sprintf("%d|t%d|[%d]", i, g, i)
				if err != nil || len(msgs) != 1 || fieldsMsgString(msgs[0]) != want {
					t.Errorf("goroutine %d: %s decodes to %+v, %v; want %s", g, body, msgs, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFields_Validate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fields  Fields
		wantErr string // part of the error; "" when valid
	}{
		{name: "zero", fields: Fields{}},
		{name: "simple", fields: fieldsTrade},
		{name: "nested", fields: fieldsMeta},
		{name: "whole data", fields: fieldsWhole},
		{name: "no items", fields: fieldsNoItems},
		{name: "custom items", fields: fieldsPubs},
		{name: "dash is a key elsewhere", fields: Fields{ID: "-", Event: "a.-", Data: "-"}},
		{name: "dash key under items", fields: Fields{Items: "-.x"}},
		{name: "empty middle key", fields: Fields{ID: "a..b"}, wantErr: `Fields.ID path "a..b"`},
		{name: "leading dot", fields: Fields{Event: ".a"}, wantErr: `Fields.Event path ".a"`},
		{name: "trailing dot", fields: Fields{Data: "a."}, wantErr: `Fields.Data path "a."`},
		{name: "dot id", fields: Fields{ID: "."}, wantErr: `Fields.ID path "."`},
		{name: "dot items", fields: Fields{Items: "."}, wantErr: `Fields.Items path "."`},
		{name: "two dots data", fields: Fields{Data: ".."}, wantErr: `Fields.Data path ".."`},
		{name: "dot data then bad items", fields: Fields{Data: ".", Items: "r..p"}, wantErr: `Fields.Items path "r..p"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fields.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}

// fieldsStd is the Decoder of f written again on encoding/json, the
// reference that the tests and FuzzFields hold the scanner to.
func fieldsStd(f Fields, body []byte) ([]Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	if !json.Valid(body) {
		return nil, ErrMalformed
	}
	split := func(path, def string) []string {
		if path == "" {
			path = def
		}
		return strings.Split(path, ".")
	}
	idPath, eventPath := split(f.ID, "id"), split(f.Event, "event")
	dataPath, itemsPath := split(f.Data, "data"), split(f.Items, "messages")
	lookup := func(raw json.RawMessage, path []string) (json.RawMessage, bool) {
		for _, key := range path {
			var obj map[string]json.RawMessage
			if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
				return nil, false
			}
			v, ok := obj[key]
			if !ok {
				return nil, false
			}
			raw = v
		}
		return raw, true
	}
	text := func(raw json.RawMessage, ok bool) string {
		if !ok {
			return ""
		}
		switch raw[0] {
		case '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			return s
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return string(raw)
		}
		return ""
	}
	one := func(raw json.RawMessage) Message {
		if raw[0] != '{' {
			return Message{Data: bytes.Clone(raw)}
		}
		m := Message{ID: text(lookup(raw, idPath)), Event: text(lookup(raw, eventPath)), Data: bytes.Clone(raw)}
		if f.Data != "." {
			if v, ok := lookup(raw, dataPath); ok {
				m.Data = bytes.Clone(v)
			}
		}
		return m
	}
	list := func(raw json.RawMessage) []Message {
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		var out []Message
		for _, e := range elems {
			if string(e) != "null" {
				out = append(out, one(e))
			}
		}
		return out
	}
	switch body[0] {
	case '[':
		return list(body), nil
	case '{':
		if f.Items != "-" {
			if v, ok := lookup(body, itemsPath); ok && v[0] == '[' {
				return list(v), nil
			}
		}
	}
	return []Message{one(body)}, nil
}

// checkFieldsReference decodes body with f's Decoder and with fieldsStd and
// fails unless they agree; it also checks that the messages do not alias
// body.
func checkFieldsReference(t *testing.T, f Fields, body []byte) {
	t.Helper()
	input := slices.Clone(body)
	got, err := f.Decoder()(input)
	want, wantErr := fieldsStd(f, slices.Clone(body))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%+v decoding %q: error %v; encoding/json: %v", f, body, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) || got != nil {
			t.Fatalf("%+v decoding %q = %+v, %v; want nil and ErrMalformed", f, body, got, err)
		}
		return
	}
	for i := range input {
		input[i] = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v decoding %q = %+v\nencoding/json gives %+v", f, body, got, want)
	}
}

// FuzzFields checks that no input or paths make the Decoder of a Fields
// panic, that it agrees with fieldsStd on every input, and that, with the
// default paths, it finds the ids, event names and data that DecodeJSON
// finds in the inputs where the two are meant to agree (see
// fieldsMatchDecodeJSON).
func FuzzFields(f *testing.F) {
	for _, g := range fieldsCaseGroups {
		for _, tt := range g.cases {
			// The deepest inputs (tens of kilobytes) would have the fuzzer
			// spend its time minimizing them; the table covers them.
			if len(tt.body) <= 1024 {
				f.Add([]byte(tt.body), tt.fields.ID, tt.fields.Event, tt.fields.Data, tt.fields.Items)
			}
		}
	}
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body), "", "", "", "")
	}
	f.Fuzz(func(t *testing.T, body []byte, id, event, data, items string) {
		fields := Fields{ID: id, Event: event, Data: data, Items: items}
		checkFieldsReference(t, fields, body)
		if fields == (Fields{}) {
			checkFieldsDecodeJSON(t, body)
		}
	})
}

// fieldsMatchDecodeJSON reports whether, in body, Fields{}.Decoder() and
// DecodeJSON are meant to find the same ids and event names. They part
// on purpose where:
//
//   - DecodeJSON matches the keys id, event, data and messages ignoring
//     case (as encoding/json does for struct fields); Fields matches them
//     exactly;
//   - DecodeJSON reads "messages": null as no messages; Fields only
//     expands an array, so that object is one message;
//   - DecodeJSON lets a null event keep an earlier value of a repeated
//     event key; with Fields the last value wins, null included;
//   - DecodeJSON reads a null in a list as an empty message (as
//     encoding/json decodes null into a struct); Fields skips it.
//
// Other differences make DecodeJSON fail (ids and event names of other
// types, values other than objects in a list, bare values) and are left
// out by the callers, which compare only inputs that both decode. Data
// differs where the object has no data: DecodeJSON gives none, Fields the
// whole object.
func fieldsMatchDecodeJSON(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return true
	}
	exactKeys := func(obj map[string]json.RawMessage) bool {
		for k := range obj {
			if f := foldedField(appendFolded(nil, k)); f != "" && k != strings.ToLower(f) {
				return false
			}
		}
		return true
	}
	message := func(raw json.RawMessage) bool {
		if raw[0] != '{' {
			return false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || !exactKeys(obj) {
			return false
		}
		ev, ok := obj["event"]
		return !ok || string(ev) != "null"
	}
	list := func(raw json.RawMessage) bool {
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return false
		}
		for _, e := range elems {
			if !message(e) {
				return false
			}
		}
		return true
	}
	switch body[0] {
	case '[':
		return list(body)
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil || !exactKeys(obj) {
			return false
		}
		if m, ok := obj["messages"]; ok {
			return m[0] == '[' && list(m)
		}
		return message(body)
	}
	return false
}

// checkFieldsDecodeJSON compares Fields{}.Decoder() with DecodeJSON on body
// when both decode it and fieldsMatchDecodeJSON says they should agree. It
// reports whether it compared.
func checkFieldsDecodeJSON(t *testing.T, body []byte) bool {
	t.Helper()
	want, err := DecodeJSON(slices.Clone(body))
	if err != nil {
		return false
	}
	got, err := Fields{}.Decoder()(slices.Clone(body))
	if err != nil {
		t.Fatalf("Fields{} fails on %q, which DecodeJSON decodes: %v", body, err)
	}
	if !fieldsMatchDecodeJSON(body) {
		return false
	}
	if len(got) != len(want) {
		t.Fatalf("Fields{} finds %d messages in %q, DecodeJSON %d: %+v and %+v", len(got), body, len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Event != w.Event {
			t.Fatalf("message %d of %q: Fields{} gives id %q event %q, DecodeJSON id %q event %q", i, body, g.ID, g.Event, w.ID, w.Event)
		}
		switch {
		case w.Data != nil && !bytes.Equal(g.Data, w.Data):
			t.Fatalf("message %d of %q: Fields{} gives data %q, DecodeJSON %q", i, body, g.Data, w.Data)
		case w.Data == nil && (len(g.Data) == 0 || g.Data[0] != '{'):
			t.Fatalf("message %d of %q has no data field; Fields{} gives %q, not the whole object", i, body, g.Data)
		}
	}
	return true
}

// TestFields_Decoder_matchesDecodeJSON compares the default Fields with
// DecodeJSON on DecodeJSON's own table and on random envelopes.
func TestFields_Decoder_matchesDecodeJSON(t *testing.T) {
	var inputs [][]byte
	for _, tt := range decodeCases {
		inputs = append(inputs, []byte(tt.body))
	}
	for _, c := range differentialCases {
		inputs = append(inputs, []byte(c))
	}
	r := rand.New(rand.NewPCG(842273827, 1))
	for range 3000 {
		inputs = append(inputs, randomEnvelopes(r))
	}
	compared, withData := 0, 0
	for _, body := range inputs {
		if checkFieldsDecodeJSON(t, body) {
			compared++
			if bytes.Contains(body, []byte(`"data"`)) {
				withData++
			}
		}
	}
	// The comparison must not be empty by accident.
	if compared < len(inputs)/2 || withData < len(inputs)/4 {
		t.Errorf("compared only %d of %d inputs (%d with data)", compared, len(inputs), withData)
	}
}

// randomEnvelopes returns a body of message envelopes in one of the shapes
// that DecodeJSON reads, mostly with exact keys and data fields.
func randomEnvelopes(r *rand.Rand) []byte {
	var b bytes.Buffer
	ws := func() {
		b.WriteString([]string{"", "", " ", "\n\t"}[r.IntN(4)])
	}
	str := func() string {
		return []string{`"a"`, `""`, `"trade"`, `"caf\u00e9"`, `"a\"b"`, `"\ud83d\ude00"`, `"x y"`, `"é"`}[r.IntN(8)]
	}
	var value func(depth int)
	value = func(depth int) {
		switch n := r.IntN(8); {
		case n == 0 && depth < 3:
			b.WriteString("{")
			for i := range r.IntN(3) {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(str() + ":")
				value(depth + 1)
			}
			b.WriteString("}")
		case n == 1 && depth < 3:
			b.WriteString("[")
			for i := range r.IntN(3) {
				if i > 0 {
					b.WriteString(",")
				}
				ws()
				value(depth + 1)
			}
			b.WriteString("]")
		case n == 2:
			b.WriteString([]string{"null", "true", "false"}[r.IntN(3)])
		case n < 5:
			b.WriteString([]string{"0", "-1", "1042", "1.5e3", "123456789012345678901234567890"}[r.IntN(5)])
		default:
			b.WriteString(str())
		}
	}
	envelope := func() {
		type member struct {
			key string
			val func()
		}
		members := []member{{`"data"`, func() { value(0) }}}
		if r.IntN(8) > 0 {
			members = append(members, member{`"id"`, func() {
				switch r.IntN(4) {
				case 0:
					b.WriteString("null")
				case 1:
					b.WriteString(str())
				default:
					b.WriteString([]string{"7", "-3", "1042", "2.50"}[r.IntN(4)])
				}
			}})
		}
		if r.IntN(2) == 0 {
			members = append(members, member{`"event"`, func() { b.WriteString(str()) }})
		}
		if r.IntN(4) == 0 {
			members = append(members, member{`"ts"`, func() { value(1) }})
		}
		if r.IntN(10) == 0 {
			members = append(members, members[r.IntN(len(members))]) // repeated key
		}
		if r.IntN(16) == 0 {
			members = members[1:] // no data
		}
		r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		b.WriteString("{")
		for i, m := range members {
			if i > 0 {
				b.WriteString(",")
			}
			ws()
			b.WriteString(m.key)
			ws()
			b.WriteString(":")
			ws()
			m.val()
		}
		b.WriteString("}")
	}
	batch := func() {
		b.WriteString("[")
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString(",")
			}
			ws()
			if r.IntN(10) == 0 {
				b.WriteString("null")
			} else {
				envelope()
			}
		}
		b.WriteString("]")
	}
	ws()
	switch r.IntN(3) {
	case 0:
		envelope()
	case 1:
		batch()
	default:
		b.WriteString(`{"next":1,"messages":`)
		batch()
		b.WriteString("}")
	}
	ws()
	return b.Bytes()
}

// BenchmarkFields decodes a typical 200-byte frame with a Fields decoder,
// and the same frame under the envelope's names with DecodeJSON for
// comparison.
func BenchmarkFields(b *testing.B) {
	frame := []byte(fieldsBenchFrame)
	envelope := []byte(strings.NewReplacer(`"u"`, `"id"`, `"type"`, `"event"`, `"payload"`, `"data"`).Replace(fieldsBenchFrame))
	for _, bb := range []struct {
		name  string
		dec   Decoder
		frame []byte
	}{
		{"Fields", Fields{ID: "u", Event: "type", Data: "payload"}.Decoder(), frame},
		{"DecodeJSON", DecodeJSON, envelope},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.frame)))
			for b.Loop() {
				msgs, err := bb.dec(bb.frame)
				if err != nil || len(msgs) != 1 || msgs[0].ID != "1042" {
					b.Fatalf("decode = %+v, %v", msgs, err)
				}
			}
		})
	}
}
