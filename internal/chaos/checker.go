//go:build chaos

package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anysub/anysub/client"
)

// Verdict is what the checker found in one subscription's deliveries
// against the server's log, ids first..last.
type Verdict struct {
	Expected   int // ids in first..last
	Delivered  int // messages delivered, duplicates included
	Lost       int // expected ids never delivered
	Duplicated int // deliveries of an id already delivered
	OutOfOrder int // deliveries whose id is not above the previous one (duplicates excluded)
	Unexpected int // deliveries with no numeric id or outside first..last
	Acked      int // ids the publisher got an answer for
	AckedLost  int // acknowledged ids never delivered (a subset of Lost)

	FirstLost []uint64 // up to 10 lost ids, for the failure message
	FirstDup  []uint64
	FirstOOO  []string // "prev->id" pairs
}

// OK reports whether the subscriber got every id exactly once, in order.
func (v Verdict) OK() bool {
	return v.Lost == 0 && v.Duplicated == 0 && v.OutOfOrder == 0 && v.Unexpected == 0 && v.AckedLost == 0
}

// String summarises the verdict on one line.
func (v Verdict) String() string {
	s := fmt.Sprintf("expected %d, delivered %d, lost %d, duplicated %d, out of order %d, unexpected %d",
		v.Expected, v.Delivered, v.Lost, v.Duplicated, v.OutOfOrder, v.Unexpected)
	if len(v.FirstLost) > 0 {
		s += fmt.Sprintf("; first lost %v", v.FirstLost)
	}
	if len(v.FirstDup) > 0 {
		s += fmt.Sprintf("; first duplicated %v", v.FirstDup)
	}
	if len(v.FirstOOO) > 0 {
		s += fmt.Sprintf("; first out of order %v", v.FirstOOO)
	}
	return s
}

// Check compares deliveries with the ids first..last the server logged
// (ids are consecutive there) and with the ids the publisher had
// acknowledged.
func Check(d []Delivery, first, last uint64, acked []uint64) Verdict {
	v := Verdict{Delivered: len(d), Acked: len(acked)}
	if last >= first {
		v.Expected = int(last - first + 1)
	}
	seen := make(map[uint64]bool, len(d))
	var prev uint64
	for _, m := range d {
		if m.ID == 0 || m.ID < first || m.ID > last {
			v.Unexpected++
			continue
		}
		if seen[m.ID] {
			v.Duplicated++
			if len(v.FirstDup) < 10 {
				v.FirstDup = append(v.FirstDup, m.ID)
			}
			continue
		}
		seen[m.ID] = true
		if m.ID <= prev {
			v.OutOfOrder++
			if len(v.FirstOOO) < 10 {
				v.FirstOOO = append(v.FirstOOO, fmt.Sprintf("%d->%d", prev, m.ID))
			}
		}
		prev = m.ID
	}
	for id := first; id <= last && last >= first; id++ {
		if !seen[id] {
			v.Lost++
			if len(v.FirstLost) < 10 {
				v.FirstLost = append(v.FirstLost, id)
			}
		}
	}
	for _, id := range acked {
		if id >= first && !seen[id] {
			v.AckedLost++
		}
	}
	return v
}

// Activity summarises a subscription's events.
type Activity struct {
	Connects, Disconnects int
	Downgrades, Upgrades  int
	ProbeFailures         int
	Transports            []string // transports messages arrived on, in ladder order of first use
	Reconnects            uint64   // from Stats
	EventsDropped         uint64   // from Stats: must be 0 for the event figures to be whole
	DowngradePaths        map[string]int
	UpgradePaths          map[string]int
	FirstDisconnectErrors []string
	MessagesPerTransport  map[string]int
}

// Summarise counts the events and transports of one subscription.
func Summarise(d []Delivery, evs []client.Event, st client.Stats) Activity {
	a := Activity{
		Reconnects: st.Reconnects, EventsDropped: st.EventsDropped,
		DowngradePaths: map[string]int{}, UpgradePaths: map[string]int{}, MessagesPerTransport: map[string]int{},
	}
	for _, e := range evs {
		switch e.Kind {
		case client.EventConnected:
			a.Connects++
		case client.EventDisconnected:
			a.Disconnects++
			if len(a.FirstDisconnectErrors) < 3 && e.Err != nil {
				a.FirstDisconnectErrors = append(a.FirstDisconnectErrors, e.Err.Error())
			}
		case client.EventDowngraded:
			a.Downgrades++
			a.DowngradePaths[e.From+"→"+e.To]++
		case client.EventUpgraded:
			a.Upgrades++
			a.UpgradePaths[e.From+"→"+e.To]++
		case client.EventProbeFailed:
			a.ProbeFailures++
		}
	}
	for _, m := range d {
		if a.MessagesPerTransport[m.Transport] == 0 {
			a.Transports = append(a.Transports, m.Transport)
		}
		a.MessagesPerTransport[m.Transport]++
	}
	return a
}

// TransportMix renders the per-transport message counts, e.g.
// "websocket 812, sse 190".
func (a Activity) TransportMix() string {
	var parts []string
	for _, t := range a.Transports {
		parts = append(parts, fmt.Sprintf("%s %d", t, a.MessagesPerTransport[t]))
	}
	return strings.Join(parts, ", ")
}

// EventLog renders the events around time at (±window) for a failure
// message, at most max lines.
func EventLog(evs []client.Event, start time.Time, max int) string {
	var b strings.Builder
	for i, e := range evs {
		if i >= max {
			fmt.Fprintf(&b, "  ... %d more\n", len(evs)-max)
			break
		}
		fmt.Fprintf(&b, "  %+8.3fs %s\n", e.Time.Sub(start).Seconds(), e)
	}
	return b.String()
}

// Durations summarises a sample of durations.
type Durations struct {
	N                     int
	Min, Median, P95, Max time.Duration
}

// SummariseDurations computes the order statistics of ds.
func SummariseDurations(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p95 := (len(s)*95+99)/100 - 1 // the ceil(0.95n)-th smallest
	return Durations{N: len(s), Min: s[0], Median: s[len(s)/2], P95: s[p95], Max: s[len(s)-1]}
}

// ms renders d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
