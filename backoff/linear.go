package backoff

import "time"

// Linear is a policy whose delays grow by a fixed Step: Initial,
// Initial+Step, Initial+2*Step, ... up to Max, each jittered. With the
// defaults the sequence before jitter is 1s, 2s, 3s, ... 30s, 30s, ... and
// it never ends. cenkalti/backoff has no linear policy, so this one
// implements the BackOff interface itself.
//
// The zero value is ready to use. A Linear is a plain value: copying it or
// sharing it between goroutines is safe as long as Rand is safe for
// concurrent use (the default source is).
type Linear struct {
	// Initial is the first delay, before jitter. Zero or negative means
	// DefaultLinearInitial (1s). An Initial above Max is lowered to Max.
	Initial time.Duration

	// Step is added to the delay after every attempt. Zero means
	// DefaultLinearStep (1s); negative means no growth, a constant delay.
	Step time.Duration

	// Max caps a delay before jitter is applied. Zero or negative means
	// DefaultLinearMax (30s).
	Max time.Duration

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

// withDefaults returns a copy of l with every zero field filled in.
func (l Linear) withDefaults() Linear {
	if l.Max <= 0 {
		l.Max = DefaultLinearMax
	}
	if l.Initial <= 0 {
		l.Initial = DefaultLinearInitial
	}
	l.Initial = min(l.Initial, l.Max)
	switch {
	case l.Step == 0:
		l.Step = DefaultLinearStep
	case l.Step < 0:
		l.Step = 0
	}
	l.Jitter = jitterFactor(l.Jitter)
	l.Rand = randSource(l.Rand)
	return l
}

// NewBackOff returns a fresh sequence for one subscription, starting at
// Initial. It does not modify l.
func (l Linear) NewBackOff() BackOff {
	l = l.withDefaults()
	return &linear{cfg: l, next: l.Initial}
}

// linear is the BackOff made by Linear.NewBackOff.
type linear struct {
	cfg  Linear        // filled in, never changed
	next time.Duration // the next delay before jitter
}

// NextBackOff returns the next jittered delay and advances the sequence.
func (b *linear) NextBackOff() time.Duration {
	d := b.next
	if b.next > b.cfg.Max-b.cfg.Step { // b.next+Step would pass Max (or overflow)
		b.next = b.cfg.Max
	} else {
		b.next += b.cfg.Step
	}
	return jittered(d, b.cfg.Jitter, b.cfg.Rand)
}

// Reset restarts the sequence at Initial.
func (b *linear) Reset() { b.next = b.cfg.Initial }
