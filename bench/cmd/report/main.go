// Command report turns the raw output of the bench suite (go test -bench,
// several counts) into the Markdown tables of docs/BENCHMARKS.md: per
// group of rows, the median of every metric and, for the metric the group
// is judged by, each row as a ratio to the group's first row (its raw
// baseline), all from the same run.
//
// Usage: report raw.txt > tables.md
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// primary is the metric each benchmark family is judged by.
var primary = map[string]string{
	"Throughput":     "msgs/s",
	"Throughput4KiB": "msgs/s",
	"Latency":        "p99-µs",
	"Idle":           "B/sub",
	"IdleCrowd":      "B/sub",
	"Failover":       "ns/op",
}

type row struct {
	name   string
	values map[string][]float64
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report raw.txt")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	groups := map[string][]*row{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		parts := strings.Split(name, "/")
		group := strings.Join(parts[:len(parts)-1], "/")
		leaf := parts[len(parts)-1]
		if _, ok := groups[group]; !ok {
			order = append(order, group)
		}
		var r *row
		for _, x := range groups[group] {
			if x.name == leaf {
				r = x
			}
		}
		if r == nil {
			r = &row{name: leaf, values: map[string][]float64{}}
			groups[group] = append(groups[group], r)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			r.values[fields[i+1]] = append(r.values[fields[i+1]], v)
		}
	}
	perfTargets(groups)
	targets(groups)
	for _, g := range order {
		family := strings.Split(g, "/")[0]
		key := primary[family]
		rows := groups[g]
		var units []string
		for _, r := range rows {
			for u := range r.values {
				if !slices.Contains(units, u) && !(u == "ns/op" && family == "Latency") {
					units = append(units, u)
				}
			}
		}
		slices.SortFunc(units, func(a, b string) int {
			if a == key {
				return -1
			}
			if b == key {
				return 1
			}
			return strings.Compare(a, b)
		})
		fmt.Printf("\n#### %s\n\n| row | %s | %s ÷ %s |\n|---|%s---|\n", g, strings.Join(units, " | "), key, rows[0].name, strings.Repeat("---|", len(units)))
		base := median(rows[0].values[key])
		for _, r := range rows {
			var cells []string
			for _, u := range units {
				cells = append(cells, format(median(r.values[u]), len(r.values[u])))
			}
			ratio := "—"
			if m := median(r.values[key]); base != 0 && len(r.values[key]) > 0 {
				ratio = fmt.Sprintf("%.2f×", m/base)
			}
			fmt.Printf("| %s | %s | %s |\n", r.name, strings.Join(cells, " | "), ratio)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func format(v float64, n int) string {
	switch {
	case n == 0:
		return "—"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// lookup returns the median of unit for the row name of group, if the run
// has it.
func lookup(groups map[string][]*row, group, name, unit string) (float64, bool) {
	for _, r := range groups[group] {
		if r.name == name && len(r.values[unit]) > 0 {
			return median(r.values[unit]), true
		}
	}
	return 0, false
}

// verdict is a target's verdict cell.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// targets prints the targets, each judged on this run's medians.
func targets(groups map[string][]*row) {
	get := func(group, name, unit string) (float64, bool) { return lookup(groups, group, name, unit) }
	fmt.Print("\n## Targets of the first round, judged on this run's medians\n\n")
	fmt.Println("| target | row | measured | verdict |\n|---|---|---|---|")
	type pair struct{ wire, base string }
	for _, p := range []pair{{"WebSocket", "coder-Reader"}, {"SSE", "go-sse"}, {"LongPoll", "nethttp"}, {"Poll", "nethttp"}} {
		g := "Throughput/" + p.wire
		a, ok1 := get(g, "anysub", "msgs/s")
		b, ok2 := get(g, p.base, "msgs/s")
		if ok1 && ok2 {
			fmt.Printf("| 1. throughput ≥ 0.9× %s | %s anysub | %.0f vs %.0f msgs/s = %.2f× | %s |\n", p.base, p.wire, a, b, a/b, verdict(a/b >= 0.9))
		}
		if t, ok := get(g, "anysub-transport", "msgs/s"); ok && ok2 {
			fmt.Printf("| (1. transport layer alone) | %s anysub-transport | %.0f vs %.0f msgs/s = %.2f× | %s |\n", p.wire, t, b, t/b, verdict(t/b >= 0.9))
		}
		for _, peer := range []string{"gorilla", "r3labs", "coder-Read"} {
			if c, ok := get(g, peer, "msgs/s"); ok && ok1 {
				fmt.Printf("| 1. throughput ≥ 1.0× %s | %s anysub | %.0f vs %.0f msgs/s = %.2f× | %s |\n", peer, p.wire, a, c, a/c, verdict(a/c >= 1))
			}
		}
		aa, ok1 := get(g, "anysub", "allocs/op")
		ba, ok2 := get(g, p.base, "allocs/op")
		if ok1 && ok2 {
			fmt.Printf("| 2. allocs/msg ≤ raw + 2 | %s anysub | %.0f vs %.0f | %s |\n", p.wire, aa, ba, verdict(aa <= ba+2))
		}
		g = "Latency/" + p.wire
		al, ok1 := get(g, "anysub", "p99-µs")
		bl, ok2 := get(g, p.base, "p99-µs")
		if ok1 && ok2 {
			fmt.Printf("| 3. p99 ≤ raw p99 + 10%% | %s anysub | %.0f vs %.0f µs = %.2f× | %s |\n", p.wire, al, bl, al/bl, verdict(al <= 1.1*bl))
		}
	}
	for _, p := range []pair{{"WebSocket", "coder-Reader"}, {"SSE", "go-sse"}, {"LongPoll", "nethttp"}} {
		g := "Idle/" + p.wire
		am, ok1 := get(g, "anysub", "B/sub")
		bm, ok2 := get(g, p.base, "B/sub")
		if ok1 && ok2 {
			fmt.Printf("| 4. idle memory ≤ 1.25× raw | %s anysub | %.0f vs %.0f B = %.2f× | %s |\n", p.wire, am, bm, am/bm, verdict(am <= 1.25*bm))
		}
		ag, ok1 := get(g, "anysub", "goroutines/sub")
		bg, _ := get(g, p.base, "goroutines/sub")
		if ok1 {
			fmt.Printf("| 4. idle goroutines ≤ 3 | %s anysub | %.1f (raw %.1f) | %s |\n", p.wire, ag, bg, verdict(ag <= 3))
		}
	}
	f, ok1 := get("Failover/Refused", "anysub-ws-to-sse", "ns/op")
	c, ok2 := get("Failover/Refused", "sse-connect", "ns/op")
	if ok1 && ok2 {
		fmt.Printf("| 5. WS refused → first SSE message < 1.5× one SSE connect | anysub-ws-to-sse | %.0f vs %.0f µs = %.2f× | %s |\n", f/1e3, c/1e3, f/c, verdict(f/c < 1.5))
		if r, ok := get("Failover/Refused", "raw-ws-to-sse", "ns/op"); ok {
			fmt.Printf("| (5. the same fallback by hand: coder Dial refused, then go-sse) | raw-ws-to-sse | %.0f vs %.0f µs = %.2f× | (context) |\n", r/1e3, c/1e3, r/c)
		}
	}
	for _, n := range []string{"websocket", "sse"} {
		if v, ok := get("Failover/Stalled", n, "ns/op"); ok {
			fmt.Printf("| stall → detected and reconnected (heartbeat 50+50 ms, backoff 10 ms) | %s | %.0f ms | (no target) |\n", n, v/1e6)
		}
	}
}

// perfTargets prints the targets of the performance round (no per-message
// hand-off, lean long-poll decoding, half the idle memory), each judged on
// this run's medians. anysub's one delivery path is Next with a
// cancellable ctx, so its rows are judged against both the delivery-path
// and the Next thresholds.
func perfTargets(groups map[string][]*row) {
	get := func(group, name, unit string) (float64, bool) { return lookup(groups, group, name, unit) }
	ratio := func(target, group, name, base string, min float64) {
		a, ok1 := get(group, name, "msgs/s")
		b, ok2 := get(group, base, "msgs/s")
		if !ok1 || !ok2 {
			return
		}
		cpu := ""
		if ca, ok := get(group, name, "cpu-ns/msg"); ok {
			if cb, ok := get(group, base, "cpu-ns/msg"); ok {
				cpu = fmt.Sprintf("; process CPU %.0f vs %.0f ns/msg", ca, cb)
			}
		}
		fmt.Printf("| %s | %s %s | %.0f vs %.0f msgs/s = %.2f×%s | %s |\n", target, group, name, a, b, a/b, cpu, verdict(a/b >= min))
	}
	fmt.Print("\n## Targets of the performance round, judged on this run's medians\n\n")
	fmt.Println("| target | row | measured | verdict |\n|---|---|---|---|")
	for _, g := range []string{"Throughput", "Throughput4KiB"} {
		ratio("1. delivery path ≥ 0.9× coder Reader", g+"/WebSocket", "anysub", "coder-Reader", 0.9)
		ratio("1. delivery path ≥ 1.0× gorilla", g+"/WebSocket", "anysub", "gorilla", 1.0)
		ratio("1. Next ≥ 0.7× coder Reader", g+"/WebSocket", "anysub", "coder-Reader", 0.7)
		ratio("1. Next ≥ 0.7× gorilla", g+"/WebSocket", "anysub", "gorilla", 0.7)
		ratio("(1. transport layer alone ≥ 0.9×)", g+"/WebSocket", "anysub-transport", "coder-Reader", 0.9)
		ratio("1. delivery path ≥ 0.9× go-sse", g+"/SSE", "anysub", "go-sse", 0.9)
		ratio("1. Next ≥ 0.7× go-sse", g+"/SSE", "anysub", "go-sse", 0.7)
		ratio("(1. transport layer alone ≥ 0.9×)", g+"/SSE", "anysub-transport", "go-sse", 0.9)
		ratio("2. long poll ≥ 0.9× lean loop", g+"/LongPoll", "anysub", "lean", 0.9)
		ratio("2. long poll ≥ 1.0× encoding/json loop", g+"/LongPoll", "anysub", "nethttp", 1.0)
		if a, ok := get(g+"/LongPoll", "anysub", "allocs/op"); ok {
			fmt.Printf("| 2. long poll ≤ 2 allocations per message | %s/LongPoll anysub | %.0f | %s |\n", g, a, verdict(a <= 2))
		}
		for _, p := range []struct{ wire, base string }{{"WebSocket", "coder-Reader"}, {"SSE", "go-sse"}, {"Stream", "bufio-json"}, {"LongPoll", "nethttp"}, {"Poll", "nethttp"}} {
			a, ok1 := get(g+"/"+p.wire, "anysub", "allocs/op")
			b, ok2 := get(g+"/"+p.wire, p.base, "allocs/op")
			if ok1 && ok2 {
				fmt.Printf("| 5. allocs/msg ≤ raw + 2 | %s/%s anysub | %.0f vs %.0f | %s |\n", g, p.wire, a, b, verdict(a <= b+2))
			}
		}
	}
	for _, p := range []struct{ wire, base string }{{"WebSocket", "coder-Reader"}, {"SSE", "go-sse"}, {"LongPoll", "nethttp"}} {
		g := "Idle/" + p.wire
		am, ok1 := get(g, "anysub", "B/sub")
		bm, ok2 := get(g, p.base, "B/sub")
		if ok1 && ok2 {
			fmt.Printf("| 3. idle memory ≤ 1.25× raw | %s anysub | %.0f vs %.0f B = %.2f× | %s |\n", p.wire, am, bm, am/bm, verdict(am <= 1.25*bm))
		}
		ag, ok1 := get(g, "anysub", "goroutines/sub")
		bg, ok2 := get(g, p.base, "goroutines/sub")
		if ok1 && ok2 {
			fmt.Printf("| 3. idle goroutines ≤ raw + 1 | %s anysub | %.1f vs %.1f | %s |\n", p.wire, ag, bg, verdict(ag <= bg+1))
		}
	}
	if m, ok := get("IdleCrowd/WebSocket", "anysub", "MiB-total"); ok {
		n, _ := get("IdleCrowd/WebSocket", "anysub", "subs")
		fmt.Printf("| 3. %.0f idle WebSocket subscriptions ≤ 250 MiB | IdleCrowd/WebSocket anysub | %.1f MiB | %s |\n", n, m, verdict(m <= 250 && n >= 10000))
	}
}
