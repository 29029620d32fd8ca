//go:build chaos

// Package chaos proves exactly-once delivery under faults: a soak harness
// that runs the anysub client against a real Node.js server
// (internal/nodeserver) through a real Toxiproxy process, publishes numbered
// messages at a steady rate while a seeded fault schedule runs, and checks
// that the subscriber got every id exactly once, in order.
//
// Everything here carries the build tag chaos, so ordinary builds and tests
// never see it. Run the short profile (a few seconds per scenario, as CI
// does) with
//
//	go test -tags chaos -count=1 ./internal/chaos/
//
// and the long one, which rewrites docs/RELIABILITY.md, with
//
//	internal/chaos/run-long.sh
//
// Flags (after the package path): -chaos.long, -chaos.seed=N (replay a run;
// the seed is printed at start), -chaos.report=FILE (write the figures as
// markdown). It needs toxiproxy-server (TOXIPROXY_SERVER or
// .tools/bin/toxiproxy-server; see InstallToxiproxy) and the node server's
// packages (npm ci --prefix internal/nodeserver); a missing one fails the
// run with the command that installs it.
//
// The scenarios: connection resets on each transport alone (resets_test.go),
// the full ladder with WebSocket refused and allowed again (ladder_test.go),
// SSE behind a buffering proxy (buffering_test.go, bufferproxy.go),
// half-open connections (halfopen_test.go), server kill and restart
// (restart_test.go), a crowd of subscriptions through a restart
// (crowd_test.go), the Socket.IO transport with recovery under resets on
// polling, on WebSocket and across upgrades (socketio_test.go), the
// ladder sse → stream → longpoll → poll with SSE refused and served again
// (TestLadderStream in ladder_test.go), and JSON values cut into chunks of
// a few bytes by Toxiproxy's slicer on their way to the HTTP stream
// transport (slicer_test.go).
package chaos
