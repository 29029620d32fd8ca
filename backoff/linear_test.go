package backoff

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestLinear_NextBackOff_sequence(t *testing.T) {
	defaults := make([]time.Duration, 33)
	for i := range defaults {
		defaults[i] = time.Duration(min(i+1, 30)) * time.Second
	}
	tests := []struct {
		name string
		l    Linear
		want []time.Duration
	}{
		{
			name: "defaults",
			l:    Linear{Jitter: -1},
			want: defaults,
		},
		{
			name: "custom capped at max",
			l:    Linear{Initial: 500 * time.Millisecond, Step: 250 * time.Millisecond, Max: 1200 * time.Millisecond, Jitter: -1},
			want: ms(500, 750, 1000, 1200, 1200),
		},
		{
			name: "negative step is constant",
			l:    Linear{Initial: 2 * time.Second, Step: -1, Jitter: -1},
			want: ms(2000, 2000, 2000),
		},
		{
			name: "initial above max is lowered",
			l:    Linear{Initial: time.Minute, Max: 5 * time.Second, Jitter: -1},
			want: ms(5000, 5000),
		},
		{
			name: "negative durations mean defaults",
			l:    Linear{Initial: -1, Max: -1, Jitter: -1},
			want: ms(1000, 2000, 3000),
		},
		{
			name: "huge step does not overflow",
			l:    Linear{Initial: math.MaxInt64 / 2, Step: math.MaxInt64 / 2, Max: math.MaxInt64, Jitter: -1},
			want: []time.Duration{math.MaxInt64 / 2, math.MaxInt64 - 1, math.MaxInt64, math.MaxInt64},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSeq(t, take(tt.l.NewBackOff(), len(tt.want)), tt.want)
		})
	}
}

func TestLinear_Reset(t *testing.T) {
	b := Linear{Step: 2 * time.Second, Jitter: -1}.NewBackOff()
	take(b, 20)
	b.Reset()
	assertSeq(t, take(b, 3), ms(1000, 3000, 5000))
}

func TestLinear_NextBackOff_jitterPoints(t *testing.T) {
	plain := ms(1000, 2000, 3000, 4000, 5000)
	tests := []struct {
		name   string
		r      float64
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
			got := take(Linear{Max: 5 * time.Second, Rand: constRand(tt.r)}.NewBackOff(), len(plain))
			for i, d := range plain {
				if !tt.within(got[i], d) {
					t.Fatalf("delay %d = %v for plain delay %v (all: %v)", i, got[i], d, got)
				}
			}
		})
	}
}

func TestLinear_NextBackOff_noJitterNoDraw(t *testing.T) {
	b := Linear{Jitter: -1, Rand: func() float64 {
		t.Fatal("Rand called with jitter off")
		return 0
	}}.NewBackOff()
	take(b, 3)
}

func TestLinear_NextBackOff_neverGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Linear{}.NewBackOff()
		start := time.Now()
		for time.Since(start) < 25*time.Minute {
			d := b.NextBackOff()
			if d <= 0 || d > 45*time.Second {
				t.Fatalf("delay %v after %v, outside (0, 45s]", d, time.Since(start))
			}
			time.Sleep(d)
		}
	})
}

func TestLinear_NewBackOff_independent(t *testing.T) {
	p := Linear{Jitter: -1}
	a, b := p.NewBackOff(), p.NewBackOff()
	take(a, 5)
	assertSeq(t, take(b, 2), ms(1000, 2000))
	assertSeq(t, take(a, 1), ms(6000))
}

func TestLinear_NewBackOff_keepsCallerValue(t *testing.T) {
	l := Linear{Step: -1}
	l.NewBackOff().NextBackOff()
	if l.Initial != 0 || l.Step != -1 || l.Max != 0 || l.Jitter != 0 || l.Rand != nil {
		t.Fatalf("NewBackOff changed the policy: %+v", l)
	}
}
