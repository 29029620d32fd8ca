package transport

// Pusher is implemented by a Stream that can hand its messages to a callback
// instead of being pulled through Next. A stream whose parser is push-style
// (it owns the read loop and calls back per event) needs an extra goroutine
// or coroutine to be pulled from; a caller that consumes messages in a loop
// of its own anyway can use Push and save it.
//
// A stream is consumed either through Next or through Push, never both, and
// Push is called at most once.
type Pusher interface {
	// Push calls yield with each message, in order, until the stream ends
	// or yield returns false. It returns the error that ended the stream,
	// exactly as Next would have returned it (a *Error), or nil when yield
	// stopped it. Close unblocks a pending Push. After Push returns, the
	// stream is finished and must still be closed.
	Push(yield func(Message) bool) error
}
