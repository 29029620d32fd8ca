package client

import (
	"sync"
	"sync/atomic"
)

// State is what a subscription is doing now.
type State int

const (
	// StateConnecting: an attempt is under way.
	StateConnecting State = iota + 1
	// StateConnected: a stream is open.
	StateConnected
	// StateWaiting: waiting out a backoff delay before the next attempt.
	StateWaiting
	// StateEnded: the server ended the stream; Next returns io.EOF.
	StateEnded
	// StateFailed: the subscription failed permanently.
	StateFailed
	// StateClosed: Close was called, or the Subscribe context ended.
	StateClosed
	// StatePaused: Pause was called; nothing is read until Resume.
	StatePaused
)

var stateNames = [...]string{
	StateConnecting: "connecting",
	StateConnected:  "connected",
	StateWaiting:    "waiting",
	StateEnded:      "ended",
	StateFailed:     "failed",
	StateClosed:     "closed",
	StatePaused:     "paused",
}

// String returns the state's name in lower case.
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Stats is a snapshot of a subscription's counters.
type Stats struct {
	Transport     string // current (or last) transport
	State         State
	Messages      uint64 // messages delivered by Next
	Duplicates    uint64 // messages dropped as duplicates
	Reconnects    uint64 // attempts after the first, upgrades excluded
	Downgrades    uint64
	Upgrades      uint64
	LastID        string // id of the last delivered message that had one
	Bytes         uint64 // payload bytes received, duplicates included
	EventsDropped uint64 // events dropped because the Events channel was full
	Resets        uint64 // connections on which a known id came back with a different message (EventReset)
	Skipped       uint64 // oversized messages skipped after failing every attempt (EventSkipped)
	Gaps          uint64 // breaks in continuity the server reported (EventGap)
}

// counters holds the live values behind Stats.
//
// Every counter here is written by the goroutine reading the network (or by
// the supervisor), never by the callers of Next: what Next hands out is
// counted by the queue, under the lock it takes anyway (see
// queue.delivered), so that a message costs the two sides no shared cache
// line beyond the queue's.
type counters struct {
	duplicates, reconnects         atomic.Uint64
	downgrades, upgrades, bytes    atomic.Uint64
	eventsDropped, resets, skipped atomic.Uint64
	gaps                           atomic.Uint64

	mu        sync.Mutex
	transport string
	state     State
}

func (c *counters) setState(st State, transport string) {
	c.mu.Lock()
	c.state = st
	if transport != "" {
		c.transport = transport
	}
	c.mu.Unlock()
}

// snapshot reads the counters, with the queue's count of delivered
// messages and the last delivered id.
func (c *counters) snapshot(q *queue) Stats {
	delivered, lastID := q.delivered()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Transport:     c.transport,
		State:         c.state,
		Messages:      delivered,
		Duplicates:    c.duplicates.Load(),
		Reconnects:    c.reconnects.Load(),
		Downgrades:    c.downgrades.Load(),
		Upgrades:      c.upgrades.Load(),
		LastID:        lastID,
		Bytes:         c.bytes.Load(),
		EventsDropped: c.eventsDropped.Load(),
		Resets:        c.resets.Load(),
		Skipped:       c.skipped.Load(),
		Gaps:          c.gaps.Load(),
	}
}
