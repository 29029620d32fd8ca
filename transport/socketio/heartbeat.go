package socketio

import (
	"sync"
	"time"
)

// In Engine.IO v4 the server pings and the client answers; the client never
// pings. The client's side of liveness is a watchdog: it is fed by every
// ping, and it bites when none has come for its budget, pingInterval plus
// the time a ping may be late (pingTimeout, or the subscription's own
// heartbeat timeout when that is shorter). Other traffic does not feed it,
// as in engine.io-client: a server that still sends data but no longer
// pings is on its way out.
//
// Time during which the stream could not read because its subscriber was
// not taking messages (back-pressure) never counts: the watchdog is told
// when such a wait begins and ends, and the budget starts afresh at its end.

// watchdog condemns a connection when no ping arrives for budget. It runs
// no goroutine of its own: a timer's callback looks at the clock, and arms
// the timer again for whatever remains of the budget, until stop.
type watchdog struct {
	budget time.Duration
	bite   func() // called once, with no lock held, when the budget is spent

	mu      sync.Mutex
	last    time.Time // the last ping, or the end of the last back-pressure wait
	blocked int       // back-pressure waits under way
	timer   *time.Timer
	stopped bool
	done    bool           // bite has been called
	pending sync.WaitGroup // one count per callback armed or under way
}

// startWatchdog arms a watchdog whose budget starts now.
func startWatchdog(budget time.Duration, bite func()) *watchdog {
	w := &watchdog{budget: budget, bite: bite, last: time.Now()}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending.Add(1)
	w.timer = time.AfterFunc(budget, w.fire)
	return w
}

// ping feeds the watchdog.
func (w *watchdog) ping() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// block and unblock bracket a wait on the subscriber.
func (w *watchdog) block() {
	w.mu.Lock()
	w.blocked++
	w.mu.Unlock()
}

func (w *watchdog) unblock() {
	w.mu.Lock()
	w.blocked--
	w.last = time.Now()
	w.mu.Unlock()
}

// fire is the timer's callback.
func (w *watchdog) fire() {
	defer w.pending.Done()
	w.mu.Lock()
	if w.stopped || w.done {
		w.mu.Unlock()
		return
	}
	wait := w.budget
	if w.blocked == 0 {
		wait = time.Until(w.last.Add(w.budget))
	}
	if wait > 0 {
		w.pending.Add(1)
		w.timer.Reset(wait)
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	w.bite()
}

// stop disarms the watchdog and returns once no callback is under way.
// It may be called more than once.
func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	if w.timer.Stop() {
		w.pending.Done()
	}
	w.mu.Unlock()
	w.pending.Wait()
}

// heartbeatBudget is how long a session may go without a ping: the
// server's pingInterval plus how late a ping may be, pingTimeout or the
// subscription's heartbeat timeout when that is shorter (zero: none).
func heartbeatBudget(h handshake, timeout time.Duration) time.Duration {
	late := h.pingTimeout()
	if timeout > 0 {
		late = min(late, timeout)
	}
	return h.pingInterval() + late
}
