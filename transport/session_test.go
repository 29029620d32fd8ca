package transport

import (
	"sync"
	"testing"
)

func TestSession_Value(t *testing.T) {
	type key struct{ name string }
	var s Session
	var made int
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := make([]any, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = s.Value(key{"a"}, func() any {
				mu.Lock()
				defer mu.Unlock()
				made++
				return new(int)
			})
		}()
	}
	wg.Wait()
	if made != 1 {
		t.Fatalf("init ran %d times", made)
	}
	for _, v := range got[1:] {
		if v != got[0] {
			t.Fatal("different values under one key")
		}
	}
	if s.Value(key{"b"}, func() any { return "b" }) != "b" || s.Value(struct{ name string }{"a"}, func() any { return 1 }) != 1 {
		t.Fatal("keys of another type or value collide")
	}
}

func TestSession_Ended(t *testing.T) {
	var nilSession *Session
	if nilSession.Ended() || (&Session{}).Ended() {
		t.Fatal("a session without Done has ended")
	}
	done := make(chan struct{})
	s := &Session{Done: done}
	if s.Ended() {
		t.Fatal("ended before Done")
	}
	close(done)
	if !s.Ended() {
		t.Fatal("not ended after Done")
	}
}

func TestSession_ReportCarrier(t *testing.T) {
	var nilSession *Session
	nilSession.ReportCarrier("", "polling") // no panic
	(&Session{}).ReportCarrier("", "polling")
	var got []string
	s := &Session{Carrier: func(from, to string) { got = append(got, from+">"+to) }}
	s.ReportCarrier("", "polling")
	s.ReportCarrier("polling", "websocket")
	if len(got) != 2 || got[0] != ">polling" || got[1] != "polling>websocket" {
		t.Fatalf("reported %q", got)
	}
}
