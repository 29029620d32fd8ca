package client_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// BenchmarkDeliver measures the client's delivery path alone: an in-memory
// transport hands out 200-byte messages with increasing ids as fast as the
// driver asks, and the benchmark takes them with Next. No socket is
// involved, so the figure is the SDK's own cost per message: dedupe, cursor,
// queue hand-off, stats.
func BenchmarkDeliver(b *testing.B) {
	data := make([]byte, 200)
	for i := range data {
		data[i] = 'x'
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	tr := &benchTransport{data: data, ids: ids}
	sub, err := client.Subscribe(context.Background(), client.Config{
		Transports:        []transport.Transport{tr},
		HeartbeatInterval: -1,
		UpgradeInterval:   -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := sub.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

type benchTransport struct {
	data []byte
	ids  []string
}

func (t *benchTransport) Name() string { return "bench" }

func (t *benchTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	return &benchStream{t: t, done: make(chan struct{})}, nil
}

type benchStream struct {
	t    *benchTransport
	n    int
	once sync.Once
	done chan struct{}
}

func (s *benchStream) Next(ctx context.Context) (transport.Message, error) {
	select {
	case <-s.done:
		return transport.Message{}, &transport.Error{Transport: "bench", Op: "read", Class: transport.Transient}
	default:
	}
	// Ids wrap around past the dedupe window, so they stay new.
	m := transport.Message{ID: s.t.ids[s.n%len(s.t.ids)] + "-" + strconv.Itoa(s.n/len(s.t.ids)), Data: s.t.data}
	s.n++
	return m, nil
}

func (s *benchStream) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
