package main

import (
	"io"
	"os"
	"syscall"
)

// openStdin returns the process's stdin for -send, and how to interrupt a
// read of it. A blocking read of file descriptor 0 cannot be interrupted,
// so unless stdin is a regular file (whose reads never block) it is opened
// again through /proc, non-blocking: that is a file description of its own
// (the mode of fd 0, shared with the parent, is left alone), which Go's
// poller watches, so that closing it ends a read under way.
func openStdin() (io.Reader, func() bool) {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode().IsRegular() {
		return os.Stdin, func() bool { return true }
	}
	f, err := os.OpenFile("/proc/self/fd/0", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return os.Stdin, nil // a socket, say: left to end with the process
	}
	return f, func() bool { return f.Close() == nil }
}
