package client

import (
	"context"
	"sync"
	"sync/atomic"
)

// queue is the bounded FIFO between the goroutine that reads the network
// and the callers of Next. It exists, instead of a channel, so that the
// reader can hand messages over in batches: a message put with wake false
// becomes visible to Next at once but wakes nobody, and the reader calls
// flush when it is about to wait for the network (transport.ReadNotifier),
// so that a Next parked on an empty queue is woken once per network read
// rather than once per message. A goroutine hand-off (park, ready, wake an
// idle processor) costs more than decoding a small message; a stream of
// small messages that arrive together now pays it once for all of them.
// Nothing waits longer than it would have: flush runs before any read that
// may block, and before the reader lets go of the stream.
//
// Wake-ups are tokens in 1-buffered channels: a sender drops a token when
// one is already there, and a woken goroutine that leaves work behind for
// another waiter passes a token on. A stray token costs a waiter one
// spurious wake-up and a second look, never a lost message. Closing the
// queue closes ready, which wakes every Next for good.
type queue struct {
	mu      sync.Mutex
	buf     []Message // ring, grown on demand up to max
	max     int       // the queue's capacity
	head, n int
	closed  bool

	// taken counts the messages get has handed out, and lastID is the id
	// of the last of them that had one: the subscription's Messages and
	// LastID, kept under mu, which get holds anyway.
	taken  uint64
	lastID string

	waiting   atomic.Int32  // Next calls parked on ready or about to be; changed under mu
	ready     chan struct{} // token: the queue may have messages, or it is closed
	roomWait  int           // puts parked on room or about to be; under mu
	room      chan struct{} // token: the queue may have room
	closeOnce sync.Once
}

func newQueue(capacity int) *queue {
	return &queue{
		max:   capacity,
		ready: make(chan struct{}, 1),
		room:  make(chan struct{}, 1),
	}
}

// tryPut adds m at once if there is room and reports whether it did. With
// wake false, a parked Next is left asleep until flush.
func (q *queue) tryPut(m Message, wake bool) bool {
	q.mu.Lock()
	if q.n == q.max {
		// Full: whoever fills it must not keep Next asleep.
		q.wakeReadyLocked()
		q.mu.Unlock()
		return false
	}
	q.pushLocked(m)
	if wake {
		q.wakeReadyLocked()
	}
	q.mu.Unlock()
	return true
}

// put adds m, waiting for room until ctx ends (ctx's error; m is not
// queued then). It always wakes a parked Next: a put that had to wait is
// not in a batch any more.
func (q *queue) put(ctx context.Context, m Message) error {
	q.mu.Lock()
	for q.n == q.max {
		q.wakeReadyLocked()
		q.roomWait++
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-ctx.Done():
			q.mu.Lock()
			q.roomWait--
			if q.n < q.max && q.roomWait > 0 {
				q.signal(q.room) // the token may have been meant for this put
			}
			q.mu.Unlock()
			return ctx.Err()
		}
		q.mu.Lock()
		q.roomWait--
	}
	q.pushLocked(m)
	q.wakeReadyLocked()
	if q.n < q.max && q.roomWait > 0 {
		q.signal(q.room)
	}
	q.mu.Unlock()
	return nil
}

// flush wakes a parked Next if messages are waiting for it: the reader
// calls it before it may block, so that what it queued with wake false is
// not held back. It costs an atomic load when nobody waits.
func (q *queue) flush() {
	if q.waiting.Load() == 0 {
		return
	}
	q.mu.Lock()
	if q.n > 0 {
		q.wakeReadyLocked()
	}
	q.mu.Unlock()
}

// get takes the oldest message, waiting until there is one or the queue is
// closed and empty (ok false) or ctx ends (ctx's error). A queued message
// wins over an ended ctx.
func (q *queue) get(ctx context.Context) (m Message, ok bool, err error) {
	q.mu.Lock()
	for q.n == 0 {
		if q.closed {
			q.mu.Unlock()
			return Message{}, false, nil
		}
		q.waiting.Add(1)
		q.mu.Unlock()
		if done := ctx.Done(); done == nil {
			<-q.ready
		} else {
			select {
			case <-q.ready:
			case <-done:
				q.mu.Lock()
				q.waiting.Add(-1)
				if q.n > 0 {
					q.wakeReadyLocked() // the token may have been meant for this call
				}
				q.mu.Unlock()
				return Message{}, false, ctx.Err()
			}
		}
		q.mu.Lock()
		q.waiting.Add(-1)
	}
	m = q.buf[q.head]
	q.buf[q.head] = Message{}
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
	q.taken++
	if m.ID != "" {
		q.lastID = m.ID
	}
	if q.roomWait > 0 {
		q.signal(q.room)
	}
	if q.n > 0 {
		q.wakeReadyLocked() // another Next may be parked and there is more
	}
	q.mu.Unlock()
	return m, true, nil
}

// delivered returns how many messages get has handed out and the id of the
// last of them that had one.
func (q *queue) delivered() (n uint64, lastID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.taken, q.lastID
}

// close marks the end: once the queue is empty, get reports ok false. Only
// the last sender calls it, after every put has returned.
func (q *queue) close() {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		close(q.ready)
		q.mu.Unlock()
	})
}

// pushLocked appends m; the caller holds mu and has checked for room. The
// ring starts empty and doubles when full, up to max: an idle subscription
// holds no buffer, and one whose reader rarely gets ahead of Next holds a
// small one.
func (q *queue) pushLocked(m Message) {
	if q.n == len(q.buf) {
		grown := make([]Message, min(max(4, 2*len(q.buf)), q.max))
		k := copy(grown, q.buf[q.head:])
		copy(grown[k:], q.buf[:q.head])
		q.buf, q.head = grown, 0
	}
	i := q.head + q.n
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = m
	q.n++
}

// wakeReadyLocked wakes a parked Next, if there is one; mu is held.
func (q *queue) wakeReadyLocked() {
	if q.waiting.Load() > 0 && !q.closed {
		q.signal(q.ready)
	}
}

// signal drops a token in c unless one is there already.
func (q *queue) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
