package backoff

import (
	"math"
	"math/rand/v2"
	"time"

	cbackoff "github.com/cenkalti/backoff/v4"
)

// BackOff is cenkalti's two-method interface, used as it is so that any
// BackOff written for github.com/cenkalti/backoff/v4 works as a reconnect
// policy. NextBackOff returns the delay before the next attempt (or [Stop] to
// give up); Reset starts the sequence over. A BackOff is not safe for
// concurrent use: one subscription owns it.
type BackOff = cbackoff.BackOff

// Stop is what NextBackOff returns to say "do not retry". The built-in
// policies never return it; a custom [BackOff] may, and the client then ends
// the subscription with the last failure.
const Stop = cbackoff.Stop

// Policy makes independent [BackOff] sequences. A subscription calls
// NewBackOff once and owns the result, which need not be goroutine-safe. The
// Policy value itself is shared (by the subscriptions made from one Config,
// say), so NewBackOff must be safe to call from several goroutines at once.
type Policy interface {
	NewBackOff() BackOff
}

// Defaults for zero fields of [Exponential].
const (
	DefaultInitial    = time.Second
	DefaultMax        = 30 * time.Second
	DefaultMultiplier = 2.0
	// DefaultJitter spreads each delay over ±50%, for both policies.
	DefaultJitter = 0.5
)

// Defaults for zero fields of [Linear].
const (
	DefaultLinearInitial = 1 * time.Second
	DefaultLinearStep    = 1 * time.Second
	DefaultLinearMax     = 30 * time.Second
)

// Compile-time checks that both policies satisfy Policy.
var (
	_ Policy = Exponential{}
	_ Policy = Linear{}
)

// Jitter spreads the delay d according to factor and a uniform value r in
// [0,1): it returns d*(1-factor+2*factor*r), that is r=0 gives the lower
// bound d*(1-factor), r=0.5 gives d itself, and r close to 1 approaches the
// upper bound d*(1+factor). It is a pure function so that the arithmetic can
// be tested apart from any random source.
//
// factor is clamped to [0,1] (NaN counts as 0, no jitter) and r to [0,1] (NaN
// counts as 0.5). The result is never negative (a negative d gives 0) and
// saturates at the largest Duration instead of overflowing; it is rounded to
// the nearest nanosecond.
func Jitter(d time.Duration, factor, r float64) time.Duration {
	if d <= 0 {
		return 0
	}
	factor = clampUnit(factor, 0)
	if factor == 0 {
		return d
	}
	r = clampUnit(r, 0.5)
	x := math.Round(float64(d) * ((1 - factor) + 2*factor*r))
	if x >= float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return time.Duration(x)
}

// WithFloor returns the larger of d and floor. A server that says how long to
// wait (an HTTP Retry-After header, an SSE retry field) sets a floor for the
// next delay: the client waits at least that long, and longer if its own
// backoff has grown past it. A d of [Stop] is returned unchanged, so a floor
// never turns giving up into another attempt.
func WithFloor(d, floor time.Duration) time.Duration {
	if d == Stop {
		return d
	}
	return max(d, floor)
}

// clampUnit limits x to [0,1], mapping NaN to nan.
func clampUnit(x, nan float64) float64 {
	switch {
	case math.IsNaN(x):
		return nan
	case x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}

// jitterFactor turns a policy's Jitter field into the factor passed to
// [Jitter]: zero means [DefaultJitter], negative means none.
func jitterFactor(j float64) float64 {
	switch {
	case j == 0:
		return DefaultJitter
	case j < 0:
		return 0
	}
	return j
}

// randSource returns f, or the goroutine-safe global source of math/rand/v2
// when f is nil.
func randSource(f func() float64) func() float64 {
	if f == nil {
		return rand.Float64
	}
	return f
}

// jittered applies the factor to d, drawing from next only when there is
// jitter to apply, so a jitter-free policy never touches its random source.
func jittered(d time.Duration, factor float64, next func() float64) time.Duration {
	if factor == 0 {
		return d
	}
	return Jitter(d, factor, next())
}
