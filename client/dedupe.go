package client

import "hash/maphash"

// dedupe remembers the last n message ids in insertion order, in O(n)
// memory: a ring of ids and a map over it. Both grow with the ids added, up
// to n, so an idle subscription does not pay for a full window up front.
//
// Beside each id it keeps a fingerprint of the message that carried it and
// the rung it came from, so that a different message reusing a known id (a
// server restarted with a fresh log numbers from 1 again) is told apart
// from a repeat of the same message, and is never dropped silently. The
// fingerprint is only compared for messages from the same rung: one message
// may be framed differently by two transports (a JSON string over
// WebSocket, its bare text over SSE), and an upgrade's overlap must not
// pass for a new message.
type dedupe struct {
	ring []string
	size int // the window, n
	next int // where the next id goes once the ring is full
	seen map[string]mark
	seed maphash.Seed
}

// mark is what the window knows of the message that carried an id.
type mark struct {
	sum  uint64 // fingerprint of event and data
	rung int    // the rung it came from; anyRung when unknown
}

// anyRung marks an id whose message is unknown (the configured cursor, or a
// local copy whose echo may differ): it matches any message as a repeat.
const anyRung = -1

// newDedupe returns a window of n ids; n <= 0 gives a window that never
// reports a duplicate.
func newDedupe(n int) *dedupe {
	if n <= 0 {
		return &dedupe{}
	}
	return &dedupe{size: n, seen: make(map[string]mark), seed: maphash.MakeSeed()}
}

// markOf fingerprints m, which came from rung.
func (d *dedupe) markOf(m *Message, rung int) mark {
	if d.seen == nil || m.ID == "" {
		return mark{rung: rung}
	}
	sum := maphash.Bytes(d.seed, m.Data)
	if m.Event != "" {
		sum ^= maphash.String(d.seed, m.Event) * 0x9e3779b97f4a7c15
	}
	return mark{sum: sum, rung: rung}
}

// check reports whether a message with id and mark mk repeats one in the
// window (dup), or reuses the id of a different message from the same rung
// (reused). The empty id is never in the window.
func (d *dedupe) check(id string, mk mark) (dup, reused bool) {
	if id == "" || d.seen == nil {
		return false, false
	}
	old, ok := d.seen[id]
	switch {
	case !ok:
		return false, false
	case old.rung == anyRung || mk.rung == anyRung || old.rung != mk.rung || old.sum == mk.sum:
		return true, false
	}
	return false, true
}

// contains reports whether id is in the window.
func (d *dedupe) contains(id string) bool {
	if id == "" || d.seen == nil {
		return false
	}
	_, ok := d.seen[id]
	return ok
}

// add puts id in the window with mark mk, evicting the oldest id when
// full; an id already there gets the new mark.
func (d *dedupe) add(id string, mk mark) {
	if id == "" || d.seen == nil {
		return
	}
	if _, ok := d.seen[id]; ok {
		d.seen[id] = mk
		return
	}
	d.seen[id] = mk
	if len(d.ring) < d.size {
		d.ring = append(d.ring, id)
		return
	}
	delete(d.seen, d.ring[d.next])
	d.ring[d.next] = id
	d.next = (d.next + 1) % d.size
}
