//go:build chaos

package chaos

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/anysub/anysub/client"
)

// Delivery is one message as the subscriber received it.
type Delivery struct {
	ID        uint64 // the number the checker reads (the server's id unless RecordBy says otherwise); 0 when missing or not a number
	RawID     string
	Transport string
	At        time.Time
}

// Recorder consumes one subscription: it takes every message with Next and
// every event from Events, with their times, until the subscription ends.
// It owns two goroutines, both gone once Close returns.
type Recorder struct {
	sub  *client.Subscription
	idOf func(client.Message) string // the id the checker reads; Message.ID by default

	mu         sync.Mutex
	deliveries []Delivery
	events     []client.Event
	final      error         // what Next returned at the end
	changed    chan struct{} // closed and replaced on every change
	lastID     uint64

	wg sync.WaitGroup
}

// Record subscribes with cfg and starts recording. The caller must Close.
func Record(ctx context.Context, cfg client.Config) (*Recorder, error) {
	return RecordBy(ctx, cfg, nil)
}

// RecordBy is Record with the number the checker reads taken by idOf from
// each message instead of from its id: for a server whose ids are not the
// numbers 1, 2, 3, ... (a Socket.IO offset), the publisher's own sequence
// number in the payload. A nil idOf reads Message.ID.
func RecordBy(ctx context.Context, cfg client.Config, idOf func(client.Message) string) (*Recorder, error) {
	if idOf == nil {
		idOf = func(m client.Message) string { return m.ID }
	}
	sub, err := client.Subscribe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &Recorder{sub: sub, idOf: idOf, changed: make(chan struct{})}
	r.wg.Add(2)
	go r.readMessages()
	go r.readEvents()
	return r, nil
}

func (r *Recorder) readMessages() {
	defer r.wg.Done()
	for {
		m, err := r.sub.Next(context.Background()) // ends with the subscription
		r.mu.Lock()
		if err != nil {
			r.final = err
			r.notifyLocked()
			r.mu.Unlock()
			return
		}
		id, perr := strconv.ParseUint(r.idOf(m), 10, 64)
		if perr != nil {
			id = 0
		}
		r.deliveries = append(r.deliveries, Delivery{ID: id, RawID: m.ID, Transport: m.Transport, At: m.Received})
		r.lastID = id
		r.notifyLocked()
		r.mu.Unlock()
	}
}

func (r *Recorder) readEvents() {
	defer r.wg.Done()
	for e := range r.sub.Events() { // closed once the subscription has ended
		r.mu.Lock()
		r.events = append(r.events, e)
		r.notifyLocked()
		r.mu.Unlock()
	}
}

func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Close ends the subscription and waits for the recorder's goroutines.
func (r *Recorder) Close() {
	_ = r.sub.Close()
	r.wg.Wait()
}

// Stats is the subscription's counters.
func (r *Recorder) Stats() client.Stats { return r.sub.Stats() }

// Deliveries returns a copy of what was delivered so far.
func (r *Recorder) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// Events returns a copy of the events seen so far.
func (r *Recorder) Events() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Event(nil), r.events...)
}

// Final is what Next returned when the subscription ended (nil while open).
func (r *Recorder) Final() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final
}

// LastID is the id of the last delivered message.
func (r *Recorder) LastID() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastID
}

// WaitFor blocks until cond, called under the recorder's lock with the
// deliveries and events so far, returns true, or ctx ends (its error), or
// the subscription ends first (the reason Next gave).
func (r *Recorder) WaitFor(ctx context.Context, cond func(d []Delivery, e []client.Event) bool) error {
	for {
		r.mu.Lock()
		ok := cond(r.deliveries, r.events)
		final, changed := r.final, r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		if final != nil {
			return final
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitDelivered waits until the message with id (or a later one) has been
// delivered.
func (r *Recorder) WaitDelivered(ctx context.Context, id uint64) error {
	return r.WaitFor(ctx, func(d []Delivery, _ []client.Event) bool {
		return len(d) > 0 && d[len(d)-1].ID >= id
	})
}

// WaitEvent waits for an event of kind at or after from and returns it.
func (r *Recorder) WaitEvent(ctx context.Context, kind client.EventKind, from time.Time) (client.Event, error) {
	var found client.Event
	err := r.WaitFor(ctx, func(_ []Delivery, evs []client.Event) bool {
		for i := len(evs) - 1; i >= 0 && !evs[i].Time.Before(from); i-- {
			if evs[i].Kind == kind {
				found = evs[i]
				// keep going back: the first one after from is wanted
			}
		}
		return found.Kind != 0
	})
	return found, err
}
