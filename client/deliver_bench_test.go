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
	b.Run("unbatched", func(b *testing.B) { benchDeliver(b, 0) })
	// As if each network read brought 16 messages: the stream calls its
	// ReadNotifier function every 16 messages.
	b.Run("reads-of-16", func(b *testing.B) { benchDeliver(b, 16) })
}

func benchDeliver(b *testing.B, perRead int) {
	data := make([]byte, 200)
	for i := range data {
		data[i] = 'x'
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	tr := &benchTransport{data: data, ids: ids, perRead: perRead}
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
	data    []byte
	ids     []string
	perRead int // 0: the stream is no ReadNotifier
}

func (t *benchTransport) Name() string { return "bench" }

func (t *benchTransport) Open(ctx context.Context, req transport.Request) (transport.Stream, error) {
	s := &benchStream{t: t, done: make(chan struct{})}
	if t.perRead > 0 {
		return &notifyingBenchStream{s}, nil
	}
	return s, nil
}

// notifyingBenchStream is a benchStream that calls its ReadNotifier
// function before every perRead-th message, where a network read would be.
type notifyingBenchStream struct{ *benchStream }

func (s *notifyingBenchStream) NotifyRead(f func()) { s.notify = f }

type benchStream struct {
	t      *benchTransport
	n      int
	notify func()
	once   sync.Once
	done   chan struct{}
}

func (s *benchStream) Next(ctx context.Context) (transport.Message, error) {
	select {
	case <-s.done:
		return transport.Message{}, &transport.Error{Transport: "bench", Op: "read", Class: transport.Transient}
	default:
	}
	if s.notify != nil && s.n%s.t.perRead == 0 {
		s.notify()
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
