package client

import (
	"errors"
	"fmt"

	"github.com/anysub/anysub/transport"
)

// poisonAttempts is how many attempts in a row must fail on an oversized
// message at the same cursor before the subscription stops retrying it: a
// server that replays that message first on every reconnect would
// otherwise hold the subscription in a loop for ever.
const poisonAttempts = 3

// poison tracks attempts that end on an oversized message at one cursor.
type poison struct {
	cursor string
	count  int
}

// StuckError ends a subscription whose every attempt fails on the same
// oversized message, right after Cursor, when the message's id is not
// known (so it cannot be skipped). Raising Config.MaxMessageSize is the way
// out. It matches transport.ErrPermanent and, through Err,
// transport.ErrMessageTooLarge.
type StuckError struct {
	Cursor   string
	Attempts int
	Err      error
}

// Error names the cursor and the failure.
func (e *StuckError) Error() string {
	at := "at the start"
	if e.Cursor != "" {
		at = "after id " + e.Cursor
	}
	return fmt.Sprintf("client: stuck %s: %d attempts in a row failed on the same message, too large to deliver and without an id to skip it by: %v", at, e.Attempts, e.Err)
}

// Unwrap returns the last attempt's failure.
func (e *StuckError) Unwrap() error { return e.Err }

// Is reports whether target is transport.ErrPermanent.
func (e *StuckError) Is(target error) bool { return target == transport.ErrPermanent }

// checkPoison looks at the failure err of an attempt. After poisonAttempts
// failures on an oversized message at the same cursor it skips that message
// when its id is known (done is true: reconnect at once) or returns a
// *StuckError to end the subscription.
func (sv *supervisor) checkPoison(err error) (done bool, final error) {
	if !errors.Is(err, transport.ErrMessageTooLarge) {
		sv.poison = poison{}
		return false, nil
	}
	s := sv.s
	cursor := s.Cursor()
	if sv.poison.count == 0 || sv.poison.cursor != cursor {
		sv.poison = poison{cursor: cursor}
	}
	sv.poison.count++
	if sv.poison.count < poisonAttempts {
		return false, nil
	}
	attempts := sv.poison.count
	sv.poison = poison{}
	var tl *transport.TooLargeError
	if !errors.As(err, &tl) || tl.ID == "" {
		return false, &StuckError{Cursor: cursor, Attempts: attempts, Err: err}
	}
	// Skip it: resume after it, as if it had been delivered, and say so.
	s.gate.Lock()
	s.commit(tl.ID, mark{rung: anyRung})
	s.gate.Unlock()
	s.stats.skipped.Add(1)
	s.emit(Event{Kind: EventSkipped, Transport: transportName(err), ID: tl.ID, Err: err})
	return true, nil
}
