package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// intactCount is how many messages each client must deliver intact; the
// server writes them as fast as it can, so every client is under load.
const intactCount = 20000

// peers are rows that are not ours: when one loses or mangles messages the
// test reports it (as a skip, with what went wrong) instead of failing.
var peers = map[string]bool{"r3labs": true, "gorilla": true, "zishang520": true, "node-socket.io-client": true}

// TestIntact checks that every client delivers every message, in order, byte
// for byte.
func TestIntact(t *testing.T) {
	for _, w := range wires {
		for _, r := range w.receivers {
			t.Run(w.name+"/"+r.name, func(t *testing.T) {
				srv := newServer(t, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				i, bad := 0, []error(nil)
				err := r.run(ctx, fmt.Sprintf("%s%s?n=%d", srv.URL, w.path, intactCount), intactCount, func(id string, data []byte) bool {
					i++
					if err := check(i, id, data); err != nil && len(bad) < 3 {
						bad = append(bad, err)
					}
					return true
				})
				if err == nil && i != intactCount {
					err = fmt.Errorf("got %d of %d messages", i, intactCount)
				}
				if err == nil && len(bad) == 0 {
					return
				}
				msg := fmt.Sprintf("NOT INTACT: %s over %s: run error %v; bad messages %v", r.name, w.name, err, bad)
				if peers[r.name] {
					t.Skip(msg)
				}
				t.Fatal(msg)
			})
		}
	}
	sioIntact(t)
}
