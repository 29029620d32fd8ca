package transport

import "sync"

// Session is what a transport keeps between the connection attempts of one
// subscription, for protocols whose resumption needs more than the cursor:
// Socket.IO's private session id, a cookie jar for a load balancer's
// affinity cookie. A stream lives for one attempt; the Session outlives it.
//
// The client makes one Session per subscription and transport and passes
// it in every Request of that pair, so a Transport value shared by several
// subscriptions keeps their states apart. A caller that opens streams
// itself may leave Request.Session nil: the transport then keeps nothing
// between Opens but the cursor.
//
// The exported fields are set by whoever makes the Session and never change
// afterwards; its methods are safe for concurrent use. The zero value is a
// Session that never ends and reports nothing.
type Session struct {
	// Carrier, when set, is called by a stream that carries its data over
	// an inner transport of its own (a Socket.IO session over "polling" or
	// "websocket"): once when the stream opens, with from empty, and again
	// on every switch while it lives (an upgrade in place). Calls for one
	// stream never overlap; they come from the stream's goroutines and
	// must not block.
	Carrier func(from, to string)

	// Done, when not nil, is closed when the subscription ends for good. A
	// stream closed after that may take leave of the server (Socket.IO's
	// namespace DISCONNECT, which forfeits the server's saved state), which
	// it must not do between attempts.
	Done <-chan struct{}

	mu     sync.Mutex
	values map[any]any
}

// Value returns the value kept under key, making it with init on first
// use. Keys are compared like map keys; a transport uses a type of its own
// so that its keys cannot collide with another's.
func (s *Session) Value(key any, init func() any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.values[key]; ok {
		return v
	}
	if s.values == nil {
		s.values = make(map[any]any)
	}
	v := init()
	s.values[key] = v
	return v
}

// Ended reports whether the subscription has ended for good (Done is
// closed).
func (s *Session) Ended() bool {
	if s == nil || s.Done == nil {
		return false
	}
	select {
	case <-s.Done:
		return true
	default:
		return false
	}
}

// ReportCarrier calls Carrier(from, to), when s and its Carrier are set.
func (s *Session) ReportCarrier(from, to string) {
	if s != nil && s.Carrier != nil {
		s.Carrier(from, to)
	}
}
