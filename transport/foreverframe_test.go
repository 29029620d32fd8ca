package transport

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestForeverFrame_decoder(t *testing.T) {
	tests := []struct {
		name     string
		callback string
		decoder  Decoder
		piece    string
		want     string
		err      error
	}{
		{"envelope", "parent.cb", nil, `<script>parent.cb({"id":1,"data":"hi"})</script>`, `{1||"hi"}`, nil},
		{"semicolon and spaces", "parent.cb", nil, "\n <script type=\"text/javascript\"> parent.cb ( {\"id\":2} ) ; </SCRIPT>", `{2||}`, nil},
		{"prologue and padding before", "parent.cb", nil,
			`<html><body><script>var cb = function (m) { parent.s._(m, document); };</script>` + strings.Repeat(" ", 173) + `<script>parent.cb([{"id":3},{"id":4}])</script>`,
			`{3||}{4||}`, nil},
		{"prologue alone", "_", nil, `<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>`, ``, nil},
		{"another callback", "parent.cb", nil, `<script>parent.other({"id":1})</script>`, ``, nil},
		{"htmlfile string argument", "_", nil, `<script>_("{\"id\":5,\"data\":\"a\/b\"}");</script>`, `{5||"a/b"}`, nil},
		{"any callback", "", nil, `<script>window.top.$push({"id":"x"})</script>`, `{x||}`, nil},
		{"bare value", "cb", nil, `<script>cb(42)</script>`, `{||42}`, nil},
		{"fields decoder", "cb", Fields{ID: "seq", Items: "msg"}.Decoder(), `<script>cb({"msg":[{"seq":7},{"seq":8}]})</script>`, `{7||{"seq":7}}{8||{"seq":8}}`, nil},
		{"no argument", "cb", nil, `<script>cb()</script>`, ``, nil},
		{"unclosed call", "cb", nil, `<script>cb({"id":1}</script>`, ``, ErrMalformed},
		{"bad string argument", "cb", nil, `<script>cb("\x")</script>`, ``, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := ForeverFrame{Callback: tt.callback, Argument: tt.decoder}.Decoder()([]byte(tt.piece))
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got := render(msgs); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSplitScripts(t *testing.T) {
	in := `<html><body><script>var _ = 1;</script>   <script>_("a")</SCRIPT><script>_("</scr` + `")</script>` + "\n"
	want := []string{`<html><body><script>var _ = 1;</script>`, `   <script>_("a")</SCRIPT>`, `<script>_("</scr")</script>`}
	for how, parts := range splits(in) {
		units, err := frameUnits(&chunkReader{parts: parts}, FormatAuto, SplitScripts, 1<<20)
		if err != io.EOF || strings.Join(units, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: %q, %v", how, units, err)
		}
	}
	if _, err := frameUnits(strings.NewReader(`<script>_("a")</script><script>_(`), FormatAuto, SplitScripts, 1<<20); !errors.Is(err, errTruncated) {
		t.Fatalf("a body cut inside a script: %v", err)
	}
}
