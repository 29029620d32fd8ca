package client

// dedupe remembers the last n message ids in insertion order, in O(n)
// memory: a ring of ids and a set over it. Both grow with the ids added, up
// to n, so an idle subscription does not pay for a full window up front
// (about 50 KiB for the default 1024 ids).
type dedupe struct {
	ring []string
	size int // the window, n
	next int // where the next id goes once the ring is full
	seen map[string]struct{}
}

// newDedupe returns a window of n ids; n <= 0 gives a window that never
// reports a duplicate.
func newDedupe(n int) *dedupe {
	if n <= 0 {
		return &dedupe{}
	}
	return &dedupe{size: n, seen: make(map[string]struct{})}
}

// contains reports whether id is in the window. The empty id never is.
func (d *dedupe) contains(id string) bool {
	if id == "" || d.seen == nil {
		return false
	}
	_, ok := d.seen[id]
	return ok
}

// add puts id in the window, evicting the oldest id when full.
func (d *dedupe) add(id string) {
	if id == "" || d.seen == nil || d.contains(id) {
		return
	}
	d.seen[id] = struct{}{}
	if len(d.ring) < d.size {
		d.ring = append(d.ring, id)
		return
	}
	delete(d.seen, d.ring[d.next])
	d.ring[d.next] = id
	d.next = (d.next + 1) % d.size
}
