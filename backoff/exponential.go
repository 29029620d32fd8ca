package backoff

import (
	"time"

	cbackoff "github.com/cenkalti/backoff/v4"
)

// Exponential is the default reconnect policy: delays start at Initial and
// are multiplied by Multiplier after every attempt, up to Max, and each one
// is then jittered. With the defaults the sequence before jitter is 1s, 2s,
// 4s, 8s, 16s, 30s, 30s, ... and it never ends. With the default ±50%
// jitter the first delay falls anywhere in 0.5s–1.5s, so a crowd of clients
// cut off together spreads its first attempts over a whole second.
//
// The zero value is ready to use. An Exponential is a plain value: copying
// it or sharing it between goroutines is safe as long as Rand is safe for
// concurrent use (the default source is).
type Exponential struct {
	// Initial is the first delay, before jitter. Zero or negative means
	// DefaultInitial (1s). An Initial above Max is lowered to Max.
	Initial time.Duration

	// Max caps a delay before jitter is applied, so a jittered delay may
	// reach Max*(1+Jitter). Zero or negative means DefaultMax (30s).
	Max time.Duration

	// Multiplier is the growth from one delay to the next. Zero means
	// DefaultMultiplier (2). Values below 1 mean 1, a constant delay: a
	// shrinking sequence would end in a reconnect loop with no pause.
	Multiplier float64

	// Jitter is the fraction by which each delay d is spread: the delay is
	// drawn uniformly from [d*(1-Jitter), d*(1+Jitter)). Zero means
	// DefaultJitter (0.5); negative means no jitter; above 1 counts as 1.
	Jitter float64

	// Rand returns uniform values in [0,1). Nil means math/rand/v2's
	// Float64. It is called from whichever goroutine calls NextBackOff, so
	// when the policy is shared by several subscriptions it must be safe for
	// concurrent use.
	Rand func() float64
}

// withDefaults returns a copy of e with every zero field filled in.
func (e Exponential) withDefaults() Exponential {
	if e.Max <= 0 {
		e.Max = DefaultMax
	}
	if e.Initial <= 0 {
		e.Initial = DefaultInitial
	}
	e.Initial = min(e.Initial, e.Max)
	switch {
	case e.Multiplier == 0:
		e.Multiplier = DefaultMultiplier
	case !(e.Multiplier >= 1): // also catches NaN
		e.Multiplier = 1
	}
	e.Jitter = jitterFactor(e.Jitter)
	e.Rand = randSource(e.Rand)
	return e
}

// NewBackOff returns a fresh sequence for one subscription, starting at
// Initial. It does not modify e.
func (e Exponential) NewBackOff() BackOff {
	e = e.withDefaults()
	return &exponential{
		base: cbackoff.NewExponentialBackOff(
			cbackoff.WithInitialInterval(e.Initial),
			cbackoff.WithMaxInterval(e.Max),
			cbackoff.WithMultiplier(e.Multiplier),
			// Jitter is ours, so that its source can be injected.
			cbackoff.WithRandomizationFactor(0),
			// v4 gives up 15 minutes after the last Reset unless this is 0;
			// a subscription must keep trying for as long as it is open.
			cbackoff.WithMaxElapsedTime(0),
		),
		jitter: e.Jitter,
		rand:   e.Rand,
	}
}

// exponential is the BackOff made by Exponential.NewBackOff: cenkalti's
// sequence without randomisation, jittered on the way out.
type exponential struct {
	base   *cbackoff.ExponentialBackOff
	jitter float64
	rand   func() float64
}

// NextBackOff returns the next jittered delay.
func (b *exponential) NextBackOff() time.Duration {
	d := b.base.NextBackOff()
	if d == Stop {
		// Cannot happen with MaxElapsedTime = 0; passed through rather
		// than jittered into a zero delay should that ever change.
		return d
	}
	return jittered(d, b.jitter, b.rand)
}

// Reset restarts the sequence at Initial.
func (b *exponential) Reset() { b.base.Reset() }
