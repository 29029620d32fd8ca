//go:build !linux

package main

import (
	"io"
	"os"
)

// openStdin returns the process's stdin for -send. Here a blocking read of
// it cannot be interrupted: stop waits for it a little, and then leaves it
// to end with the process.
func openStdin() (io.Reader, func() bool) {
	return os.Stdin, nil
}
