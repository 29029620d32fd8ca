package main

import (
	"bufio"
	"context"
	"io"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

const (
	// maxSendLine bounds one line of -send's input.
	maxSendLine = 16 << 20
	// stdinGrace is how long stop waits for a read of the process's stdin
	// that it had no means to interrupt (see openStdin).
	stdinGrace = time.Second
)

// lineSender sends the lines of -send's input, in order and one at a time,
// from a goroutine of its own that stop ends and waits for. The end of the
// input ends the sender only: the subscription carries on.
type lineSender struct {
	cancel    context.CancelFunc
	interrupt func() bool // ends a read under way; false if it cannot
	done      chan struct{}
}

// startSender starts sending the lines of in (nil: the process's stdin)
// over sub, reporting each on out.
func startSender(ctx context.Context, sub *client.Subscription, in io.Reader, out *printer) *lineSender {
	var interrupt func() bool
	if in == nil {
		in, interrupt = openStdin()
	} else {
		interrupt = interrupter(in)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &lineSender{cancel: cancel, interrupt: interrupt, done: make(chan struct{})}
	go s.loop(ctx, sub, in, out)
	return s
}

// loop reads and sends until the input ends or ctx does. A line that fails
// for good is reported and the next one sent.
func (s *lineSender) loop(ctx context.Context, sub *client.Subscription, in io.Reader, out *printer) {
	defer close(s.done)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxSendLine)
	for sc.Scan() {
		if ctx.Err() != nil {
			return
		}
		err := sub.Send(ctx, sc.Bytes())
		tr := sub.Stats().Transport
		switch {
		case err == nil:
			out.sendState("sent", tr, nil)
		case ctx.Err() != nil || over(sub):
			return // the run is ending; it reports why itself
		default:
			// A *transport.Error has been reported already, as the
			// subscription's send-failed event; anything else (a transport
			// that cannot send) has not.
			if _, reported := err.(*transport.Error); !reported {
				out.sendState("send-failed", tr, err)
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		out.note("-send: reading stdin: %v", err)
	}
}

// over reports whether sub has ended.
func over(sub *client.Subscription) bool {
	switch sub.Stats().State {
	case client.StateEnded, client.StateFailed, client.StateClosed:
		return true
	}
	return false
}

// stop ends the sender and waits for its goroutine. Nil-safe.
func (s *lineSender) stop() {
	if s == nil {
		return
	}
	s.cancel()
	if s.interrupt != nil && s.interrupt() {
		<-s.done
		return
	}
	select {
	case <-s.done:
	case <-time.After(stdinGrace):
		// A read of a stdin that cannot be interrupted: it ends with the
		// process, which is about to exit.
	}
}

// interrupter returns how to end a read of r under way: closing it, or
// setting a deadline in the past. With neither, the read is left to end by
// itself (a finite reader), and the function returns true so that stop
// waits for it.
func interrupter(r io.Reader) func() bool {
	return func() bool {
		if c, ok := r.(io.Closer); ok {
			_ = c.Close()
			return true
		}
		if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
			return d.SetReadDeadline(time.Unix(1, 0)) == nil
		}
		return true
	}
}
