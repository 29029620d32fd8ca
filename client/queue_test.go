package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
)

// getAsync runs q.get in a goroutine; the returned channel gets its result.
func getAsync(ctx context.Context, q *queue) <-chan Message {
	got := make(chan Message, 1)
	go func() {
		m, ok, err := q.get(ctx)
		if !ok || err != nil {
			m = Message{ID: "end"}
		}
		got <- m
	}()
	return got
}

// TestQueue_batchedWakeUp: a message put without a wake-up is invisible to
// a parked Next until flush; one put with a wake-up is not.
func TestQueue_batchedWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(4)
		got := getAsync(context.Background(), q)
		synctest.Wait()
		if !q.tryPut(Message{ID: "1"}, false) {
			t.Fatal("no room in an empty queue")
		}
		synctest.Wait()
		select {
		case m := <-got:
			t.Fatalf("woken before flush with %q", m.ID)
		default:
		}
		q.flush()
		synctest.Wait()
		if m := <-got; m.ID != "1" {
			t.Fatalf("got %q", m.ID)
		}

		got = getAsync(context.Background(), q)
		synctest.Wait()
		q.tryPut(Message{ID: "2"}, true)
		synctest.Wait()
		select {
		case m := <-got:
			if m.ID != "2" {
				t.Fatalf("got %q", m.ID)
			}
		default:
			t.Fatal("a put with a wake-up left Next asleep")
		}
	})
}

// TestQueue_fullWakesNext: a queue filled without a wake-up wakes its
// parked Next as soon as a put finds no room, so a full queue never waits
// for a flush that the blocked reader cannot make.
func TestQueue_fullWakesNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(2)
		got := getAsync(context.Background(), q)
		synctest.Wait()
		q.tryPut(Message{ID: "1"}, false)
		q.tryPut(Message{ID: "2"}, false)
		putErr := make(chan error, 1)
		go func() { putErr <- q.put(context.Background(), Message{ID: "3"}) }()
		synctest.Wait()
		if m := <-got; m.ID != "1" {
			t.Fatalf("got %q", m.ID)
		}
		synctest.Wait()
		if err := <-putErr; err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"2", "3"} {
			if m, ok, _ := q.get(context.Background()); !ok || m.ID != want {
				t.Fatalf("got %q, want %q", m.ID, want)
			}
		}
	})
}

// TestQueue_putGivesUpWithCtx: a put waiting for room returns ctx's error
// and leaves nothing in the queue.
func TestQueue_putGivesUpWithCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(1)
		q.tryPut(Message{ID: "1"}, true)
		if q.tryPut(Message{ID: "x"}, true) {
			t.Fatal("tryPut went past the capacity")
		}
		ctx, cancel := context.WithCancel(context.Background())
		putErr := make(chan error, 1)
		go func() { putErr <- q.put(ctx, Message{ID: "2"}) }()
		synctest.Wait()
		cancel()
		if err := <-putErr; err != context.Canceled {
			t.Fatalf("put: %v", err)
		}
		q.close()
		if m, ok, _ := q.get(context.Background()); !ok || m.ID != "1" {
			t.Fatalf("got %q %v", m.ID, ok)
		}
		if _, ok, _ := q.get(context.Background()); ok {
			t.Fatal("a message past the given-up put")
		}
	})
}

// TestQueue_getCtx: an ended ctx ends a parked get; a queued message wins
// over an ended ctx; a closed queue delivers what it holds, then ok false.
func TestQueue_getCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(2)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, _, err := q.get(ctx); errc <- err }()
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("get: %v", err)
		}
		q.tryPut(Message{ID: "1"}, false)
		if m, ok, err := q.get(ctx); err != nil || !ok || m.ID != "1" {
			t.Fatalf("get with an ended ctx and a queued message: %q %v %v", m.ID, ok, err)
		}
		q.tryPut(Message{ID: "2"}, false)
		got := getAsync(context.Background(), q)
		if m := <-got; m.ID != "2" {
			t.Fatalf("got %q", m.ID)
		}
		got = getAsync(context.Background(), q)
		synctest.Wait()
		q.close()
		if m := <-got; m.ID != "end" {
			t.Fatalf("got %q after close", m.ID)
		}
	})
}

// TestQueue_concurrent: several readers and one writer that flushes now and
// then: every message is taken exactly once, each reader sees its messages
// in order, and nobody is left asleep with messages queued.
func TestQueue_concurrent(t *testing.T) {
	const n, readers = 20000, 3
	q := newQueue(8)
	var wg sync.WaitGroup
	seen := make([][]int, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, ok, _ := q.get(context.Background())
				if !ok {
					return
				}
				i, _ := strconv.Atoi(m.ID)
				seen[r] = append(seen[r], i)
			}
		}()
	}
	for i := range n {
		m := Message{ID: strconv.Itoa(i)}
		if !q.tryPut(m, false) {
			if err := q.put(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 4 {
			q.flush()
		}
	}
	q.flush()
	q.close()
	wg.Wait()
	count := make([]int, n)
	for _, s := range seen {
		for k, i := range s {
			count[i]++
			if k > 0 && s[k-1] >= i {
				t.Fatalf("a reader got %d after %d", i, s[k-1])
			}
		}
	}
	for i, c := range count {
		if c != 1 {
			t.Fatalf("message %d taken %d times", i, c)
		}
	}
}

// TestQueue_growsInOrder: the ring starts empty and grows as it fills,
// wrapped or not, up to the capacity, keeping the order.
func TestQueue_growsInOrder(t *testing.T) {
	q := newQueue(16)
	if len(q.buf) != 0 {
		t.Fatalf("a new queue holds a buffer of %d", len(q.buf))
	}
	next, want := 0, 0
	put := func(k int) {
		for range k {
			if !q.tryPut(Message{ID: strconv.Itoa(next)}, false) {
				t.Fatalf("no room for message %d with %d queued", next, q.n)
			}
			next++
		}
	}
	get := func(k int) {
		for range k {
			m, ok, _ := q.get(context.Background())
			if !ok || m.ID != strconv.Itoa(want) {
				t.Fatalf("got %q, want %d", m.ID, want)
			}
			want++
		}
	}
	put(3)
	get(2)
	put(3)  // wraps around the first ring of 4
	put(12) // grows twice, from a wrapped ring, to the capacity
	if q.tryPut(Message{ID: "x"}, false) {
		t.Fatal("room past the capacity")
	}
	if len(q.buf) != 16 {
		t.Fatalf("ring of %d at capacity 16", len(q.buf))
	}
	get(16)
}
