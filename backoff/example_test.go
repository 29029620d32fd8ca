package backoff_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/anysub/anysub/backoff"
)

// The default policy's delays before jitter, and Reset after a connection
// has delivered.
func ExampleExponential() {
	b := backoff.Exponential{Jitter: -1}.NewBackOff()
	var seq []string
	for range 8 {
		seq = append(seq, b.NextBackOff().String())
	}
	fmt.Println(strings.Join(seq, " "))
	b.Reset()
	fmt.Println("after Reset:", b.NextBackOff())
	// Output:
	// 1s 2s 4s 8s 16s 30s 30s 30s
	// after Reset: 1s
}

func ExampleLinear() {
	b := backoff.Linear{Initial: time.Second, Step: 2 * time.Second, Max: 8 * time.Second, Jitter: -1}.NewBackOff()
	var seq []string
	for range 6 {
		seq = append(seq, b.NextBackOff().String())
	}
	fmt.Println(strings.Join(seq, " "))
	// Output:
	// 1s 3s 5s 7s 8s 8s
}

// A pinned random source shows where jitter puts a delay: r=0 is the lower
// bound, r=0.5 the plain delay.
func ExampleJitter() {
	fmt.Println(backoff.Jitter(2*time.Second, 0.5, 0))
	fmt.Println(backoff.Jitter(2*time.Second, 0.5, 0.5))
	fmt.Println(backoff.Jitter(2*time.Second, 0.5, 0.75))
	// Output:
	// 1s
	// 2s
	// 2.5s
}

// A server's Retry-After of 10s outweighs a 2s backoff delay, but not a 30s one.
func ExampleWithFloor() {
	retryAfter := 10 * time.Second
	fmt.Println(backoff.WithFloor(2*time.Second, retryAfter))
	fmt.Println(backoff.WithFloor(30*time.Second, retryAfter))
	// Output:
	// 10s
	// 30s
}
