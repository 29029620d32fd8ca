package backoff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/leakcheck"
)

// The concurrency test below starts goroutines, so the package checks leaks.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// constRand returns a Rand that always yields r.
func constRand(r float64) func() float64 { return func() float64 { return r } }

// take returns the next n delays of b.
func take(b BackOff, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = b.NextBackOff()
	}
	return out
}

// ms turns whole milliseconds into Durations, to keep tables short.
func ms(v ...int64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func assertSeq(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d delays %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delay %d = %v, want %v\ngot  %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
}

func TestJitter(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name      string
		d         time.Duration
		factor, r float64
		want      time.Duration
	}{
		{"zero d", 0, 0.5, 0.3, 0},
		{"negative d", -s, 0.5, 0.3, 0},
		{"no jitter", s, 0, 0.9, s},
		{"lower bound", s, 0.5, 0, 500 * time.Millisecond},
		{"centre", s, 0.5, 0.5, s},
		{"quarter", s, 0.5, 0.25, 750 * time.Millisecond},
		{"just under upper bound", s, 0.5, 0.999999, 1499999 * time.Microsecond},
		{"factor one lower bound is zero", s, 1, 0, 0},
		{"factor one centre", s, 1, 0.5, s},
		{"factor above one clamped", s, 3, 0.75, 1500 * time.Millisecond},
		{"factor above one lower bound", s, 3, 0, 0},
		{"negative factor is none", s, -0.5, 0, s},
		{"NaN factor is none", s, math.NaN(), 0, s},
		{"r below zero clamped", s, 0.5, -2, 500 * time.Millisecond},
		{"r above one clamped", s, 0.5, 7, 1500 * time.Millisecond},
		{"NaN r is centre", s, 0.5, math.NaN(), s},
		{"saturates instead of overflowing", math.MaxInt64, 0.5, 0.999, math.MaxInt64},
		{"largest d without jitter", math.MaxInt64, 0, 0.999, math.MaxInt64},
		{"rounds half away from zero", 3, 0.5, 0, 2},
		{"rounds down below half", 1, 1, 0.2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Jitter(tt.d, tt.factor, tt.r)
			if got != tt.want {
				t.Fatalf("Jitter(%v, %v, %v) = %v, want %v", tt.d, tt.factor, tt.r, got, tt.want)
			}
		})
	}
}

func TestWithFloor(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name     string
		d, floor time.Duration
		want     time.Duration
	}{
		{"backoff above hint", 5 * s, 2 * s, 5 * s},
		{"hint above backoff", 2 * s, 5 * s, 5 * s},
		{"equal", 3 * s, 3 * s, 3 * s},
		{"no hint", 3 * s, 0, 3 * s},
		{"negative hint ignored", 3 * s, -s, 3 * s},
		{"zero backoff takes hint", 0, 2 * s, 2 * s},
		{"stop stays stop", Stop, 5 * s, Stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WithFloor(tt.d, tt.floor); got != tt.want {
				t.Fatalf("WithFloor(%v, %v) = %v, want %v", tt.d, tt.floor, got, tt.want)
			}
		})
	}
}

// policyCase builds one policy with a given jitter and source, so a jittered
// sequence can be compared step by step with its jitter-free twin.
type policyCase struct {
	name string
	make func(jitter float64, rnd func() float64) Policy
}

var policyCases = []policyCase{
	{"exponential", func(j float64, rnd func() float64) Policy {
		return Exponential{Initial: 100 * time.Millisecond, Max: 20 * time.Second, Multiplier: 1.7, Jitter: j, Rand: rnd}
	}},
	{"linear", func(j float64, rnd func() float64) Policy {
		return Linear{Initial: 300 * time.Millisecond, Step: 700 * time.Millisecond, Max: 15 * time.Second, Jitter: j, Rand: rnd}
	}},
}

// TestPolicies_jitterWithinBounds draws many delays from a seeded source and
// checks each lies in [d(1-j), d(1+j)] around the jitter-free delay d, and
// that the draws really spread over that interval.
func TestPolicies_jitterWithinBounds(t *testing.T) {
	const draws = 2000
	for _, pc := range policyCases {
		for _, j := range []float64{0.1, 0.5, 1} {
			t.Run(fmt.Sprintf("%s/jitter=%v", pc.name, j), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(42, uint64(j*1000)))
				jittered := pc.make(j, rng.Float64).NewBackOff()
				plain := pc.make(-1, nil).NewBackOff()
				lo, hi := math.Inf(1), math.Inf(-1)
				for i := range draws {
					if i%25 == 0 { // revisit the short delays too
						jittered.Reset()
						plain.Reset()
					}
					d, got := plain.NextBackOff(), jittered.NextBackOff()
					lower := time.Duration(math.Round(float64(d) * (1 - j)))
					upper := time.Duration(math.Round(float64(d) * (1 + j)))
					if got < lower || got > upper {
						t.Fatalf("draw %d: jitter %v of %v gave %v, outside [%v, %v]", i, j, d, got, lower, upper)
					}
					ratio := float64(got) / float64(d)
					lo, hi = min(lo, ratio), max(hi, ratio)
				}
				// Uniform draws come within 5% of the interval's ends.
				if lo > 1-0.95*j || hi < 1+0.95*j {
					t.Fatalf("jitter %v: delay/base ratios only spread over [%.3f, %.3f]", j, lo, hi)
				}
			})
		}
	}
}

// TestPolicies_sharedConcurrently uses one policy value from many goroutines
// with the default random source; -race reports any shared mutable state.
func TestPolicies_sharedConcurrently(t *testing.T) {
	policies := []struct {
		name string
		p    Policy
	}{
		{"exponential default", Exponential{}},
		{"exponential pointer", &Exponential{Initial: time.Millisecond, Jitter: 0.3}},
		{"linear default", Linear{}},
		{"linear pointer", &Linear{Step: time.Millisecond, Jitter: 1}},
	}
	for _, tt := range policies {
		t.Run(tt.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					b := tt.p.NewBackOff()
					for i := range 200 {
						if i%50 == 0 {
							b.Reset()
						}
						if d := b.NextBackOff(); d < 0 {
							t.Errorf("NextBackOff = %v", d)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
