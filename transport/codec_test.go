package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// decodeCases are the table of DecodeJSON; FuzzDecodeJSON starts from them.
// want lists messages as pollMsgString renders them; wantErr means ErrMalformed.
var decodeCases = []struct {
	name    string
	body    string
	want    []string
	wantErr bool
}{
	// Nothing new.
	{name: "empty", body: ""},
	{name: "whitespace", body: " \n\t\r "},
	{name: "null", body: "null"},
	{name: "null in whitespace", body: "\n null \n"},
	{name: "empty array", body: "[]"},
	{name: "empty messages", body: `{"messages":[]}`},
	{name: "null messages", body: `{"messages":null}`},

	// Shapes.
	{name: "array", body: `[{"id":1,"data":"a"},{"id":2,"event":"e","data":"b"}]`, want: []string{`1||"a"`, `2|e|"b"`}},
	{name: "messages object", body: `{"messages":[{"id":1,"data":"a"}],"next":"ignored"}`, want: []string{`1||"a"`}},
	{name: "messages win over own fields", body: `{"id":9,"data":"self","messages":[{"id":1}]}`, want: []string{"1||"}},
	{name: "single object", body: `{"id":"x","event":"e","data":1}`, want: []string{"x|e|1"}},
	{name: "surrounding whitespace", body: "\n  [ {\"id\" : 1} ]  \n", want: []string{"1||"}},
	{name: "unknown fields ignored", body: `[{"id":1,"ts":"2024","meta":{"a":1}}]`, want: []string{"1||"}},

	// Ids.
	{name: "integer id", body: `[{"id":42}]`, want: []string{"42||"}},
	{name: "negative id", body: `[{"id":-3}]`, want: []string{"-3||"}},
	{name: "float id kept as written", body: `[{"id":1.50e3}]`, want: []string{"1.50e3||"}},
	{name: "huge id kept exactly", body: `[{"id":123456789012345678901234567890}]`, want: []string{"123456789012345678901234567890||"}},
	{name: "string id", body: `[{"id":"abc-1"}]`, want: []string{"abc-1||"}},
	{name: "escaped string id", body: `[{"id":"caf\u00e9\n"}]`, want: []string{"café\n||"}},
	{name: "empty string id", body: `[{"id":""}]`, want: []string{"||"}},
	{name: "null id", body: `[{"id":null,"data":1}]`, want: []string{"||1"}},
	{name: "missing id", body: `[{"data":1}]`, want: []string{"||1"}},
	{name: "object id", body: `[{"id":{"n":1}}]`, wantErr: true},
	{name: "array id", body: `[{"id":[1]}]`, wantErr: true},
	{name: "true id", body: `[{"id":true}]`, wantErr: true},
	{name: "false id", body: `{"id":false}`, wantErr: true},
	{name: "bad id after good ones", body: `[{"id":1},{"id":{}}]`, wantErr: true},

	// Data of every JSON type, kept as raw JSON.
	{name: "string data", body: `[{"data":"hi \"there\""}]`, want: []string{`||"hi \"there\""`}},
	{name: "number data as written", body: `[{"data":12.50}]`, want: []string{"||12.50"}},
	{name: "true data", body: `[{"data":true}]`, want: []string{"||true"}},
	{name: "false data", body: `[{"data":false}]`, want: []string{"||false"}},
	{name: "null data", body: `[{"data":null}]`, want: []string{"||null"}},
	{name: "object data raw", body: `[{"data":{"a": [1, 2], "b": {}}}]`, want: []string{`||{"a": [1, 2], "b": {}}`}},
	{name: "array data raw", body: `[{"data":[ "x" , null ]}]`, want: []string{`||[ "x" , null ]`}},
	{name: "no data", body: `[{"id":1,"event":"ping"}]`, want: []string{"1|ping|"}},

	// Not messages.
	{name: "html", body: "<html><body>Log in to the Wi-Fi</body></html>", wantErr: true},
	{name: "bare string", body: `"hello"`, wantErr: true},
	{name: "bare number", body: `42`, wantErr: true},
	{name: "bare true", body: `true`, wantErr: true},
	{name: "array of numbers", body: `[1,2]`, wantErr: true},
	{name: "array of strings", body: `["a"]`, wantErr: true},
	{name: "truncated array", body: `[{"id":1}`, wantErr: true},
	{name: "truncated object", body: `{"id":1,"data":`, wantErr: true},
	{name: "trailing garbage", body: `[{"id":1}] x`, wantErr: true},
	{name: "two objects", body: `{"id":1} {"id":2}`, wantErr: true},
	{name: "messages not a list", body: `{"messages":{"id":1}}`, wantErr: true},
	{name: "messages a number", body: `{"messages":5}`, wantErr: true},
	{name: "event not a string", body: `[{"id":1,"event":5}]`, wantErr: true},
	{name: "nul after the value", body: "[{\"id\":1}]\x00", wantErr: true},
	{name: "invalid utf-8 kept valid", body: "[{\"data\":\"\xff\"}]", want: []string{"||\"\xff\""}},
}

func TestDecodeJSON(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := DecodeJSON([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("DecodeJSON(%q) = %v, %v; want ErrMalformed", tt.body, msgs, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeJSON(%q): %v", tt.body, err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, pollMsgString(m))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("DecodeJSON(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestDecodeJSON_doesNotAliasBody(t *testing.T) {
	body := []byte(`[{"id":"a","event":"e","data":{"k":"v"}}]`)
	msgs, err := DecodeJSON(body)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("DecodeJSON = %v, %v", msgs, err)
	}
	for i := range body {
		body[i] = 'X'
	}
	if got := pollMsgString(msgs[0]); got != `a|e|{"k":"v"}` {
		t.Errorf("after overwriting the body the message reads %q", got)
	}
}

// FuzzDecodeJSON checks that no body makes DecodeJSON panic, that every
// failure is ErrMalformed, and that every Data it returns is valid JSON that
// does not share memory with the body.
func FuzzDecodeJSON(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		input := slices.Clone(body)
		msgs, err := DecodeJSON(input)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeJSON(%q) failed with %v, not ErrMalformed", body, err)
			}
			if msgs != nil {
				t.Fatalf("DecodeJSON(%q) returned messages with an error", body)
			}
			return
		}
		for i := range input {
			input[i] = 0
		}
		// Data that aliased the body would now be zero bytes: not valid JSON.
		for i, m := range msgs {
			if len(m.Data) > 0 && !json.Valid(m.Data) {
				t.Fatalf("DecodeJSON(%q): message %d has invalid JSON data %q", body, i, m.Data)
			}
		}
	})
}

func TestDecodeFrame_fallsBackToTheWholeFrame(t *testing.T) {
	for _, c := range []struct {
		frame string
		want  []string // id|event|data of each message
	}{
		{`{"id":1,"event":"e","data":{"a":1}}`, []string{`1|e|{"a":1}`}},
		{`[{"id":"a","data":1},{"id":"b","data":2}]`, []string{`a||1`, `b||2`}},
		{`{"data":null}`, []string{`||null`}},
		{`{"price":3}`, []string{`||{"price":3}`}},
		{`[]`, []string{`||[]`}},
		{`{"messages":[]}`, []string{`||{"messages":[]}`}},
		{`not json`, []string{`||not json`}},
		{`{"id":{}}`, []string{`||{"id":{}}`}},
	} {
		msgs := decodeFrame([]byte(c.frame))
		var got []string
		for _, m := range msgs {
			got = append(got, m.ID+"|"+m.Event+"|"+string(m.Data))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("decodeFrame(%s) = %q, want %q", c.frame, got, c.want)
		}
	}
}

// decodeJSONStd is DecodeJSON as first written, on encoding/json: the
// reference that FuzzDecodeJSON_matchesEncodingJSON holds the scanner to.
func decodeJSONStd(body []byte) ([]Message, error) {
	type envelope struct {
		ID    json.RawMessage `json:"id"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	from := func(list []envelope) ([]Message, error) {
		out := make([]Message, 0, len(list))
		for i, e := range list {
			id := ""
			if raw := bytes.TrimSpace(e.ID); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
				switch raw[0] {
				case '"':
					if err := json.Unmarshal(raw, &id); err != nil {
						return nil, err
					}
				case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
					id = string(raw)
				default:
					return nil, fmt.Errorf("%w: message %d: bad id", ErrMalformed, i)
				}
			}
			var data []byte
			if len(e.Data) > 0 {
				data = bytes.Clone(e.Data)
			}
			out = append(out, Message{ID: id, Event: e.Event, Data: data})
		}
		return out, nil
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil, nil
	}
	switch body[0] {
	case '[':
		var list []envelope
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return from(list)
	case '{':
		var obj struct {
			envelope
			Messages json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if obj.Messages == nil {
			return from([]envelope{obj.envelope})
		}
		var list []envelope
		if err := json.Unmarshal(obj.Messages, &list); err != nil {
			return nil, fmt.Errorf("%w: messages: %v", ErrMalformed, err)
		}
		return from(list)
	}
	return nil, fmt.Errorf("%w: not an array or object", ErrMalformed)
}

// differentialCases add to decodeCases the corners where a hand-written
// scanner and encoding/json are most likely to part.
var differentialCases = []string{
	`{"ID":1,"Event":"E","DATA":2}`,
	`{"Messages":[{"iD":"x"}]}`,
	"{\"me\u017f\u017fages\":[{\"id\":1}]}",                        // long s folds to S
	`{"\u0069d":"esc","\u0065vent":"e"}`,                           // escaped names
	`[{"id":1,"id":2,"event":"a","event":null,"data":1,"data":2}]`, // last wins, null keeps
	`[{"event":"a\\b"},{"event":"a\b"}]`,                           // cache must not confuse escapes
	`[null,{"id":1}]`,
	`[{"id":"\ud800"}]`,
	`[{"id":1,"messages":[]}]`,
	`{"messages":[1]}`,
	`{"messages":"x"}`,
	`{"event":5,"messages":[]}`,
	`[{"data":01}]`,
	`[{"data":1.}]`,
	`[{"data":-}]`,
	`[{"data":1e}]`,
	`[{"data":"\x01"}]`,
	`[{"data":"\q"}]`,
	`[{"data":"\u12"}]`,
	`[{"data":tru}]`,
	`[{"data":[1,]}]`,
	`[{"data":{"a":1,}}]`,
	`[{,}]`,
	`[{"a" 1}]`,
	`{"id":1,"data":[[[[[[]]]]]]}`,
	"[{\"data\":\"\xe2\x82\"}]",
	`[{"id":"a"},{"id":2},{"id":"é"}]`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`[` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `]`,
}

// FuzzDecodeJSON_matchesEncodingJSON holds DecodeJSON's scanner to the
// encoding/json decoding it replaced: same messages, byte for byte, and an
// error exactly when encoding/json fails.
func FuzzDecodeJSON_matchesEncodingJSON(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	for _, c := range differentialCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := DecodeJSON(slices.Clone(body))
		want, wantErr := decodeJSONStd(slices.Clone(body))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("DecodeJSON(%q) error %v; encoding/json: %v", body, err, wantErr)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("DecodeJSON(%q) failed with %v, not ErrMalformed", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeJSON(%q) = %#v\nencoding/json gives %#v", body, got, want)
		}
	})
}

func TestDecodeJSON_dataDoNotShareCapacity(t *testing.T) {
	msgs, err := DecodeJSON([]byte(`[{"data":"aa"},{"data":"bb"}]`))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("DecodeJSON = %v, %v", msgs, err)
	}
	_ = append(msgs[0].Data, 'X') // must not write into the next message's data
	if string(msgs[1].Data) != `"bb"` {
		t.Errorf("appending to one message's data changed the next one: %q", msgs[1].Data)
	}
}

func TestEnvDecoder_frameReusesEventNames(t *testing.T) {
	var d envDecoder
	a := d.frame(nil, []byte(`{"id":1,"event":"tick","data":1}`))
	b := d.frame(nil, []byte(`{"id":2,"event":"tick","data":2}`))
	if unsafe.StringData(a[0].Event) != unsafe.StringData(b[0].Event) {
		t.Error("the second frame's event name was allocated again")
	}
	if allocs := testing.AllocsPerRun(100, func() {
		_ = d.frame(a[:0], []byte(`{"id":3,"event":"tick","data":{"k":"v"}}`))
	}); allocs > 2 {
		t.Errorf("decoding a frame into a reused slice allocates %v times, want at most 2 (id, data)", allocs)
	}
}
