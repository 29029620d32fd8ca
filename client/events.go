package client

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// EventKind names a change in what the subscription is doing.
type EventKind int

const (
	// EventConnecting: an attempt on Transport has started.
	EventConnecting EventKind = iota + 1
	// EventConnected: Transport is open and streaming.
	EventConnected
	// EventDisconnected: the connection on Transport ended or could not be
	// made, because of Err; the next attempt starts after RetryIn.
	EventDisconnected
	// EventDowngraded: the subscription moved from From to the worse
	// transport To because of Err.
	EventDowngraded
	// EventUpgraded: a probe of the better transport To proved live and the
	// subscription cut over to it from From.
	EventUpgraded
	// EventProbeFailed: an upgrade probe of Transport failed with Err; the
	// subscription stays where it is and probes again later.
	EventProbeFailed
	// EventEnded: the server ended the stream cleanly; Next returns io.EOF.
	EventEnded
	// EventFailed: the subscription failed permanently with Err.
	EventFailed
	// EventReset: a message on Transport reused the id ID of an earlier,
	// different message from the same transport: the server's log was
	// reset (a restart with a fresh log numbers from 1 again), or it
	// changed a message. The message is delivered, not dropped as a
	// duplicate; so is every later one that reuses an id with new content.
	// Reported once per connection.
	EventReset
	// EventSkipped: the message ID, over MaxMessageSize, failed every
	// attempt (the server sends it first each time) and was skipped: the
	// subscription resumes after it. Err says why it could not be read.
	EventSkipped
	// EventGap: the server on Transport said it could not resume after the
	// cursor ID (a decoded gap marker, see transport.Message.Gap): messages
	// may be missing between what was delivered and what follows.
	EventGap
	// EventQuiet: the stream on Transport stalled without delivering, and
	// the transport below had nothing new either: the server is quiet, not
	// hidden behind a buffering proxy. The same transport is opened again
	// at once, its liveness budget stretched to Budget; no failure counts.
	EventQuiet
	// EventPaused: Pause closed the connection; nothing is read until Resume.
	EventPaused
	// EventResumed: Resume was called; the subscription reconnects from its
	// cursor.
	EventResumed
	// EventSendFailed: an attempt to send over Transport failed with Err;
	// Send retries on the next connection unless Err is permanent.
	EventSendFailed
	// EventCarrier: the stream on Transport carries its data over the
	// inner transport To, having used From until now (empty when the
	// stream has just opened): a Socket.IO session starts on "polling" or
	// "websocket", and may move from polling to websocket in place.
	EventCarrier
)

var eventKindNames = [...]string{
	EventConnecting:   "connecting",
	EventConnected:    "connected",
	EventDisconnected: "disconnected",
	EventDowngraded:   "downgraded",
	EventUpgraded:     "upgraded",
	EventProbeFailed:  "probe-failed",
	EventEnded:        "ended",
	EventFailed:       "failed",
	EventReset:        "reset",
	EventSkipped:      "skipped",
	EventGap:          "gap",
	EventQuiet:        "quiet",
	EventPaused:       "paused",
	EventResumed:      "resumed",
	EventSendFailed:   "send-failed",
	EventCarrier:      "carrier",
}

// String returns the kind's name in lower case, as used in logs.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one state change of a subscription. Fields that do not apply to
// a kind are zero.
type Event struct {
	Kind      EventKind
	Time      time.Time
	Transport string        // the transport concerned
	From, To  string        // for EventDowngraded, EventUpgraded and EventCarrier
	Err       error         // why, for Disconnected, Downgraded, ProbeFailed, Failed
	RetryIn   time.Duration // for EventDisconnected: the delay before the next attempt
	ID        string        // for EventReset, EventSkipped: the message id concerned; EventGap: the cursor
	Budget    time.Duration // for EventQuiet: the stretched liveness budget
}

// String describes the event on one line. An error is told once, without
// repeating the transport already named, and durations are rounded (to the
// millisecond under 10s, to the tenth of a second above):
//
//	disconnected sse: connection stalled: no bytes for 25s (retry in 1.436s)
func (e Event) String() string {
	switch e.Kind {
	case EventConnecting, EventConnected:
		return e.Kind.String() + " " + e.Transport
	case EventDisconnected:
		return fmt.Sprintf("disconnected %s: %s (retry in %s)", e.Transport, errText(e.Transport, e.Err), roundDuration(e.RetryIn))
	case EventDowngraded:
		return fmt.Sprintf("downgraded %s -> %s: %s", e.From, e.To, errText(e.From, e.Err))
	case EventUpgraded:
		return fmt.Sprintf("upgraded %s -> %s", e.From, e.To)
	case EventProbeFailed:
		return fmt.Sprintf("probe-failed %s: %s", e.Transport, errText(e.Transport, e.Err))
	case EventEnded:
		return "ended"
	case EventFailed:
		return fmt.Sprintf("failed: %v", e.Err)
	case EventReset:
		return fmt.Sprintf("reset %s: id %s reused by a different message; the server's log restarted", e.Transport, e.ID)
	case EventSkipped:
		return fmt.Sprintf("skipped %s: message %s: %s", e.Transport, e.ID, errText(e.Transport, e.Err))
	case EventQuiet:
		return fmt.Sprintf("quiet %s: nothing to deliver here or below; staying, liveness budget now %s", e.Transport, roundDuration(e.Budget))
	case EventGap:
		return fmt.Sprintf("gap %s: the server could not resume after id %q; messages may be missing", e.Transport, e.ID)
	case EventSendFailed:
		return fmt.Sprintf("send-failed %s: %s", e.Transport, errText(e.Transport, e.Err))
	case EventCarrier:
		if e.From == "" {
			return fmt.Sprintf("carrier %s: %s", e.Transport, e.To)
		}
		return fmt.Sprintf("carrier %s: %s -> %s (upgraded in place)", e.Transport, e.From, e.To)
	}
	return e.Kind.String()
}

// errText is the text of err, less the "<transport>: " it starts with when
// the transport is the one the event has just named.
func errText(transport string, err error) string {
	if err == nil {
		return "<nil>"
	}
	text := err.Error()
	if transport != "" {
		if rest, ok := strings.CutPrefix(text, transport+": "); ok {
			return rest
		}
	}
	return text
}

// roundDuration rounds d for a text, as the transport package does in its
// errors: to the millisecond under 10s, to the tenth of a second above, to
// the microsecond under a millisecond.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// emit records e in the stats, logs it and offers it to the Events channel,
// dropping the oldest queued event when the channel is full. The driver and
// a probe round may both call it; every call returns after a bounded number
// of tries, since each failed send first makes room.
func (s *Subscription) emit(e Event) {
	e.Time = time.Now()
	e.Err = s.secrets.scrub(e.Err)
	level := slog.LevelInfo
	switch e.Kind {
	case EventDisconnected, EventProbeFailed, EventFailed, EventSendFailed, EventReset, EventSkipped, EventGap:
		level = slog.LevelWarn
	}
	s.cfg.Logger.Log(s.ctx, level, "anysub: "+e.Kind.String(),
		"transport", e.Transport, "from", e.From, "to", e.To, "err", e.Err, "retry_in", e.RetryIn, "id", e.ID)
	s.evMu.Lock()
	events := s.events
	if events == nil {
		if len(s.early) == s.cfg.EventBuffer {
			s.early = append(s.early[:0], s.early[1:]...)
			s.stats.eventsDropped.Add(1)
		}
		s.early = append(s.early, e)
		s.evMu.Unlock()
		return
	}
	s.evMu.Unlock()
	for {
		select {
		case events <- e:
			return
		default:
		}
		select {
		case <-events:
			s.stats.eventsDropped.Add(1)
		default:
		}
	}
}
