// Package bench measures anysub against the libraries it is built on and
// against peer clients, over every transport, with one in-process loopback
// server per wire format and one message source for all. It is a module of
// its own so that the peer clients never become dependencies of the SDK.
//
// Run it with ./run.sh, which writes docs/BENCHMARKS.md.
package bench
