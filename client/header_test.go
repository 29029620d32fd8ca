package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/anysub/anysub/transport"
)

func TestSubscribe_invalidHeaderIsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
	}{
		{"CRLF in value", http.Header{"X-Test": {"a\r\nInjected: 1"}}},
		{"bare LF in value", http.Header{"X-Test": {"a\nb"}}},
		{"NUL in value", http.Header{"X-Test": {"a\x00b"}}},
		{"LF in name", http.Header{"X-Te\nst": {"a"}}},
		{"space in name", http.Header{"X Test": {"a"}}},
		{"empty name", http.Header{"": {"a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Subscribe(context.Background(), Config{
				Transports: []transport.Transport{&transport.SSE{URL: "http://127.0.0.1:1/sse"}},
				Header:     tc.h,
			})
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Subscribe = %v, want ErrInvalidConfig", err)
			}
		})
	}
	sub, err := Subscribe(context.Background(), Config{
		Transports: []transport.Transport{&transport.SSE{URL: "http://127.0.0.1:1/sse"}},
		Header:     http.Header{"X-Fine": {"a: b; c=\"d\"\t"}},
	})
	if err != nil {
		t.Fatalf("a valid header was refused: %v", err)
	}
	sub.Close()
}

func TestCredentials_invalidHeaderIsPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newMemServer("a")
		hook := func(context.Context, error) (Credentials, error) {
			return Credentials{Header: http.Header{"Authorization": {"Bearer x\r\ny"}}}, nil
		}
		sub, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{srv}, Credentials: hook})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := sub.Next(context.Background()); !errors.Is(err, transport.ErrPermanent) {
			t.Fatalf("Next = %v, want a permanent failure", err)
		}
		if srv.opens != 0 {
			t.Fatalf("%d attempts with a header that cannot be sent", srv.opens)
		}
	})
}

func TestSubscribe_badURLOnALowerRungIsInvalidConfig(t *testing.T) {
	_, err := Subscribe(context.Background(), Config{Transports: []transport.Transport{
		&transport.WebSocket{URL: "ws://127.0.0.1:1/ws"},
		&transport.SSE{URL: "htp://127.0.0.1:1/sse"},
		&transport.LongPoll{URL: "http://127.0.0.1:1/long"},
	}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "sse") {
		t.Fatalf("Subscribe = %v, want ErrInvalidConfig naming sse", err)
	}
}
