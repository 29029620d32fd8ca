package client

import (
	"encoding/json"
	"sync"

	"github.com/anysub/anysub/transport"
)

// sessions holds one transport.Session per rung of a subscription: what a
// transport keeps from one attempt to the next (Socket.IO's session id and
// cookie jar), apart from every other subscription's, since a Transport
// value may be shared. Each reports its stream's carrier as EventCarrier
// and ends with the subscription, so that a stream closed at the very end
// may take leave of the server.
type sessions struct {
	once sync.Once
	list []*transport.Session
}

// of returns the Session of rung, making the whole set on first use.
func (ss *sessions) of(s *Subscription, rung int) *transport.Session {
	ss.once.Do(func() {
		ss.list = make([]*transport.Session, len(s.cfg.Transports))
		for i, tr := range s.cfg.Transports {
			name := tr.Name()
			ss.list[i] = &transport.Session{
				Done: s.ctx.Done(),
				Carrier: func(from, to string) {
					s.emit(Event{Kind: EventCarrier, Transport: name, From: from, To: to})
				},
			}
		}
	})
	return ss.list[rung]
}

// jsonStrings returns every string value in the JSON document b (an auth
// payload), for the secrets to hide; nothing when b is not JSON.
func jsonStrings(b []byte) []string {
	var v any
	if len(b) == 0 || json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
