package client

// ladder tracks which transport is in use and when to move between them.
// Rung 0 is the best transport. Only the supervisor goroutine uses it.
type ladder struct {
	current        int
	failures       int     // consecutive failures of current without a delivery
	downgradeAfter int     // failures that move the subscription down
	reasons        []error // per rung: why it last answered unsupported, or nil
}

func newLadder(n, downgradeAfter int) ladder {
	return ladder{downgradeAfter: downgradeAfter, reasons: make([]error, n)}
}

// delivered records that the current transport delivered a message.
func (l *ladder) delivered() {
	l.failures = 0
	l.reasons[l.current] = nil
}

// failed records a transient failure of the current transport.
func (l *ladder) failed() { l.failures++ }

// unsupported records that the current transport is not offered. When
// every rung has said so it returns the reasons, in ladder order.
func (l *ladder) unsupported(err error) []error {
	l.reasons[l.current] = err
	l.failures = l.downgradeAfter // move on at once
	for _, r := range l.reasons {
		if r == nil {
			return nil
		}
	}
	return append([]error(nil), l.reasons...)
}

// downgrade moves to the next worse rung not known to be unsupported, when
// the current one has failed enough. It reports the new rung and whether
// it moved. When the current rung is unsupported and there is no usable rung
// below it, it moves to the best usable rung above, after a backoff delay
// (reported as not moved, so the caller waits first).
func (l *ladder) downgrade() (int, bool) {
	if l.failures < l.downgradeAfter {
		return l.current, false
	}
	for i := l.current + 1; i < len(l.reasons); i++ {
		if l.reasons[i] == nil {
			l.current, l.failures = i, 0
			return i, true
		}
	}
	if l.reasons[l.current] != nil {
		for i := range l.current {
			if l.reasons[i] == nil {
				l.current, l.failures = i, 0
				return i, false
			}
		}
	}
	// The last usable rung keeps retrying after backoff delays.
	l.failures = 0
	return l.current, false
}

// upgraded records a cut-over to rung, which has just proved live.
func (l *ladder) upgraded(rung int) {
	l.current, l.failures = rung, 0
	l.reasons[rung] = nil
}
