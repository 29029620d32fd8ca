package backoff

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestExponential_NextBackOff_sequence(t *testing.T) {
	tests := []struct {
		name string
		e    Exponential
		want []time.Duration
	}{
		{
			name: "defaults",
			e:    Exponential{Jitter: -1},
			want: ms(1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000),
		},
		{
			name: "custom growth capped at max",
			e:    Exponential{Initial: 100 * time.Millisecond, Multiplier: 3, Max: time.Second, Jitter: -1},
			want: ms(100, 300, 900, 1000, 1000),
		},
		{
			name: "fractional multiplier",
			e:    Exponential{Initial: 400 * time.Millisecond, Multiplier: 1.5, Max: 2 * time.Second, Jitter: -1},
			want: ms(400, 600, 900, 1350, 2000, 2000),
		},
		{
			name: "multiplier below one is constant",
			e:    Exponential{Initial: time.Second, Multiplier: 0.5, Jitter: -1},
			want: ms(1000, 1000, 1000),
		},
		{
			name: "negative multiplier is constant",
			e:    Exponential{Initial: time.Second, Multiplier: -2, Jitter: -1},
			want: ms(1000, 1000, 1000),
		},
		{
			name: "initial above max is lowered",
			e:    Exponential{Initial: 10 * time.Second, Max: 2 * time.Second, Jitter: -1},
			want: ms(2000, 2000, 2000),
		},
		{
			name: "negative durations mean defaults",
			e:    Exponential{Initial: -time.Second, Max: -time.Second, Jitter: -1},
			want: ms(1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000),
		},
		{
			name: "max only",
			e:    Exponential{Max: 3 * time.Second, Jitter: -1},
			want: ms(1000, 2000, 3000, 3000, 3000),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSeq(t, take(tt.e.NewBackOff(), len(tt.want)), tt.want)
		})
	}
}

func TestExponential_Reset(t *testing.T) {
	b := Exponential{Jitter: -1}.NewBackOff()
	take(b, 8) // well into the capped part
	b.Reset()
	assertSeq(t, take(b, 4), ms(1000, 2000, 4000, 8000))
}

// TestExponential_NextBackOff_jitterPoints pins Rand to the ends and centre
// of its range: the delays must land on the lower bound, the plain delay, and
// just under the upper bound.
func TestExponential_NextBackOff_jitterPoints(t *testing.T) {
	plain := ms(1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000)
	tests := []struct {
		name string
		r    float64
		// within reports whether got is right for the plain delay d.
		within func(got, d time.Duration) bool
	}{
		{"lower bound", 0, func(got, d time.Duration) bool { return got == d/2 }},
		{"centre", 0.5, func(got, d time.Duration) bool { return got == d }},
		{"just under upper bound", 0.999999, func(got, d time.Duration) bool {
			upper := d * 3 / 2
			return got < upper && got >= upper-d/100000
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Jitter left at zero: the default ±50% applies.
			got := take(Exponential{Rand: constRand(tt.r)}.NewBackOff(), len(plain))
			for i, d := range plain {
				if !tt.within(got[i], d) {
					t.Fatalf("delay %d = %v for plain delay %v (all: %v)", i, got[i], d, got)
				}
			}
		})
	}
}

// TestExponential_NextBackOff_noJitterNoDraw: with jitter off the random
// source is never consulted.
func TestExponential_NextBackOff_noJitterNoDraw(t *testing.T) {
	b := Exponential{Jitter: -1, Rand: func() float64 {
		t.Fatal("Rand called with jitter off")
		return 0
	}}.NewBackOff()
	take(b, 3)
}

// TestExponential_NextBackOff_neverGivesUp runs the default policy for more
// than 20 minutes of fake time. cenkalti's ExponentialBackOff reads time.Now,
// which synctest fakes, so had MaxElapsedTime kept its 15-minute default the
// sequence would return Stop here.
func TestExponential_NextBackOff_neverGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Exponential{}.NewBackOff()
		start := time.Now()
		n := 0
		for time.Since(start) < 25*time.Minute {
			d := b.NextBackOff()
			if d == Stop {
				t.Fatalf("NextBackOff returned Stop after %v and %d delays", time.Since(start), n)
			}
			if d <= 0 || d > 45*time.Second {
				t.Fatalf("delay %d = %v, outside (0, 45s]", n, d)
			}
			time.Sleep(d)
			n++
		}
	})
}

func TestExponential_NewBackOff_independent(t *testing.T) {
	p := Exponential{Jitter: -1}
	a, b := p.NewBackOff(), p.NewBackOff()
	take(a, 5)
	assertSeq(t, take(b, 3), ms(1000, 2000, 4000))
	assertSeq(t, take(a, 1), ms(30000))
}

func TestExponential_NewBackOff_keepsCallerValue(t *testing.T) {
	e := Exponential{Max: 3 * time.Second}
	e.NewBackOff().NextBackOff()
	if e.Initial != 0 || e.Max != 3*time.Second || e.Multiplier != 0 || e.Jitter != 0 || e.Rand != nil {
		t.Fatalf("NewBackOff changed the policy: %+v", e)
	}
}
