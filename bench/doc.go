// Package bench measures anysub against the libraries it is built on and
// against peer clients, over every transport, with one in-process loopback
// server per wire format and one message source for all. It is a module of
// its own so that the peer clients never become dependencies of the SDK.
//
// The Socket.IO rows are the exception to the in-process servers: every
// client, Go or Node, reads one socket.io server in a node process, and the
// official socket.io-client is measured in node too (bench/node, installed
// with npm ci --prefix bench/node).
//
// Run it with ./run.sh, which writes docs/BENCHMARKS.md.
package bench
