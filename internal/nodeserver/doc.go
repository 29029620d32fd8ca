// Package nodeserver runs a real Node.js server (express for HTTP, ws for
// WebSocket; server.js in this directory) and controls it from Go, so that
// tests can check the anysub client against a server from another ecosystem
// rather than only against the in-process internal/testserver.
//
// The server keeps one message log with ids "1", "2", ... and serves it on
// the four default wire conventions: WebSocket on PathWebSocket (one JSON
// message object per text frame, resuming from ?since=), Server-Sent Events on
// PathSSE (resuming from Last-Event-ID or ?since=, with keep-alive comments),
// long polling on PathLongPoll and polling on PathPoll (JSON arrays of at most
// 1000 messages), and an NDJSON HTTP stream on PathStream (one message
// object per line, resuming from ?since=, an empty line as keep-alive).
// Publish appends to the log; the fault controls (DropAll,
// RefuseWebSocket, SetSSEContentType, Stall) and process control (Kill,
// Restart, Close) let a test break the server on purpose. With
// Options.LogFile the log survives Kill and Restart, so a subscription can be
// checked for resuming with no gap and no repeat across a server crash.
//
// StartDialects runs dialects.js instead: three servers on one port whose
// protocols are those of Node.js tutorial servers rather than anysub's
// defaults (a chat that wants a login frame first, a board with subscribe
// requests and application pings, a feed whose ids are in "u" and whose
// cursor parameter is "after"), to check that the client's hooks are enough
// to follow them.
//
// StartStreams runs streams.js: servers that stream over one long response,
// for the HTTP stream transport and whole-state polling (seed 000's HTTP/2
// server over TLS with a certificate the test makes, a log over cleartext
// HTTP/2, a CouchDB-style continuous _changes feed, a Kubernetes-style watch
// with 410 Gone for an expired resourceVersion, and seed 000's whole-state
// poll with ETags). It needs only node's own modules and express.
//
// StartSocketIO runs socketio.js: a socket.io 4.8 server (namespaces "/"
// and "/chat", optional connection state recovery and auth middleware) with
// admin controls to emit events, stream them, cut every connection, forget
// the sessions kept for recovery, and read what the server saw, for the
// interop tests of the Socket.IO transport.
//
// The Go files build without Node.js. Using them needs node (version 20 or
// later) on PATH and the pinned packages installed once:
//
//	npm ci --prefix internal/nodeserver
//
// The package's own tests carry the build tag interop:
//
//	go test -tags interop -race ./internal/nodeserver/
//
// The node process is started through /bin/sh, which first raises its
// open-files limit to the hard limit, so one server can hold thousands of
// connections.
package nodeserver
