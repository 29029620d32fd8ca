package client

import (
	"testing"

	"github.com/anysub/anysub/transport"
)

func keyed(key, data string) transport.Message {
	return transport.Message{Key: key, Data: []byte(data)}
}

// TestDedupe_keys: a message without id but with a key (a whole-state
// poll's item) is delivered once per key, whatever its content the next
// time; its key never becomes the cursor, nor clashes with an equal id.
func TestDedupe_keys(t *testing.T) {
	ended := transient("whole")
	ended.(*transport.Error).Op = "read"
	tr := &scriptTransport{name: "whole", steps: []step{
		{msgs: []transport.Message{keyed("a", "1"), keyed("b", "2")}, end: ended},
		{msgs: []transport.Message{keyed("a", "1"), keyed("b", "2 edited"), keyed("c", "3"),
			{ID: "a", Data: []byte("id a")}, {Data: []byte("neither")}}, end: ended},
		{msgs: []transport.Message{keyed("c", "3"), keyed("d", "4")}},
	}}
	sub := subscribe(t, testConfig(tr))
	got := receive(t, testCtx(t), sub, 6)
	var b []byte
	for _, m := range got {
		b = append(b, m.ID+"/"+m.Key+"="+string(m.Data)+" "...)
	}
	if want := "/a=1 /b=2 /c=3 a/=id a /=neither /d=4 "; string(b) != want {
		t.Fatalf("got  %q\nwant %q", b, want)
	}
	if s := sub.Stats(); s.Duplicates != 3 {
		t.Fatalf("stats %+v, want 3 duplicates (a, b, then c)", s)
	}
	if c := tr.cursors(); len(c) != 3 || c[0] != "" || c[1] != "" || c[2] != "a" {
		t.Fatalf("cursors of the opens %q: keys must not move the cursor, the id a must", c)
	}
}
