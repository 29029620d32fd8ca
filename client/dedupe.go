package client

// dedupe remembers the last n message ids in insertion order, in O(n)
// memory: a ring of ids and a set over it.
type dedupe struct {
	ring []string
	next int
	seen map[string]struct{}
}

// newDedupe returns a window of n ids; n <= 0 gives a window that never
// reports a duplicate.
func newDedupe(n int) *dedupe {
	if n <= 0 {
		return &dedupe{}
	}
	return &dedupe{ring: make([]string, n), seen: make(map[string]struct{}, n)}
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
	if old := d.ring[d.next]; old != "" {
		delete(d.seen, old)
	}
	d.ring[d.next] = id
	d.seen[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
}
