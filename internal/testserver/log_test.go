package testserver

import (
	"errors"
	"slices"
	"testing"
)

func TestNormalizeData(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"object compacted", "{ \"a\" :\n 1 }", `{"a":1}`},
		{"number", "42", "42"},
		{"json string kept", `"hi"`, `"hi"`},
		{"text becomes string", "hello", `"hello"`},
		{"html not escaped", "<b>&", `"<b>&"`},
		{"empty becomes empty string", "", `""`},
		{"broken json becomes string", `{"a":`, `"{\"a\":"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(normalizeData([]byte(tt.in))); got != tt.want {
				t.Errorf("normalizeData(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestEncodeMessage(t *testing.T) {
	tests := []struct {
		name, id, event, data, want string
	}{
		{"full", "5", "tick", `{"n":1}`, `{"id":"5","event":"tick","data":{"n":1}}`},
		{"no event", "6", "", `[1,2]`, `{"id":"6","data":[1,2]}`},
		{"no id", "", "", `"x"`, `{"data":"x"}`},
		{"event quoted", "7", `a"b<`, `1`, `{"id":"7","event":"a\"b<","data":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encodeMessage(tt.id, tt.event, []byte(tt.data))); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLog_after(t *testing.T) {
	l := msgLog{retention: 3}
	for range 5 {
		l.append("", []byte("1"))
	}
	// Retained: 3, 4, 5.
	tests := []struct {
		name   string
		cursor uint64
		max    int
		want   []uint64
	}{
		{"from the start", 0, 10, []uint64{3, 4, 5}},
		{"older than retention", 1, 10, []uint64{3, 4, 5}},
		{"just before oldest", 2, 10, []uint64{3, 4, 5}},
		{"middle", 3, 10, []uint64{4, 5}},
		{"newest", 5, 10, nil},
		{"bounded", 0, 2, []uint64{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			for _, e := range l.after(tt.cursor, tt.max) {
				got = append(got, e.id)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("after(%d, %d) = %v, want %v", tt.cursor, tt.max, got, tt.want)
			}
		})
	}
}

func TestLog_retentionBounded(t *testing.T) {
	l := msgLog{retention: 10}
	for range 1000 {
		l.append("", []byte("1"))
	}
	if len(l.items) != 10 || l.items[0].id != 991 || l.last != 1000 {
		t.Fatalf("len %d, first %d, last %d; want 10, 991, 1000", len(l.items), l.items[0].id, l.last)
	}
	if c := cap(l.items); c > 40 {
		t.Errorf("backing array holds %d entries for a retention of 10", c)
	}
}

func TestLog_parseCursor(t *testing.T) {
	l := msgLog{retention: 10}
	for range 3 {
		l.append("", []byte("1"))
	}
	tests := []struct {
		raw     string
		want    uint64
		wantErr bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"2", 2, false},
		{"3", 3, false},
		{"4", 0, true},
		{"abc", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"1.5", 0, true},
	}
	for _, tt := range tests {
		t.Run("cursor "+tt.raw, func(t *testing.T) {
			got, err := l.parseCursor(tt.raw)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseCursor(%q) = %d, %v; want %d, error %v", tt.raw, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errBadCursor) {
				t.Errorf("error %v does not wrap errBadCursor", err)
			}
		})
	}
}

func TestOversizedData(t *testing.T) {
	for _, size := range []int{0, 2, 3, 100} {
		d := oversizedData(size)
		if want := max(size, 2); len(d) != want || d[0] != '"' || d[len(d)-1] != '"' {
			t.Errorf("oversizedData(%d) = %d bytes %.10q…, want %d bytes in quotes", size, len(d), d, want)
		}
	}
}
