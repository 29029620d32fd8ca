// Package socketio is a transport for socket.io 4.x servers: it follows
// one namespace over Engine.IO v4 and Socket.IO v5, spoken natively over
// net/http (long-polling) and github.com/coder/websocket, with no
// socket.io client library.
//
// A Transport is one rung of a client's ladder. Each attempt makes an
// Engine.IO handshake, connects to the namespace (with an auth object and,
// to resume, the session to recover), and streams the namespace's events
// as messages. Within one attempt a polling session upgrades itself to
// WebSocket in place, as the protocol lays out, and keeps trying when a
// proxy blocks the upgrade; the client above sees one stream whose carrier
// changes (reported through transport.Session).
//
// The protocol comes in layers, one file each:
//
//   - engine_codec.go: Engine.IO framing: packet types, text packets, the
//     polling payload joined by 0x1e with binary as "b"+base64, the open
//     packet;
//   - heartbeat.go: the server pings, the client answers; the watchdog
//     that declares a session dead without pings;
//   - engine.go: one Engine.IO session: its reader, writer and queue;
//   - polling.go: the handshake, the GETs and POSTs of long-polling;
//   - websocket.go: Engine.IO over a WebSocket;
//   - upgrade.go: the move from polling to WebSocket (probe, pause, upgrade);
//   - packet.go: Socket.IO packets, namespaces, events and attachments;
//   - recovery.go: connection state recovery, Socket.IO's resume: the
//     offset as the cursor, the pid kept across attempts, gaps;
//   - socketio.go and stream.go: the Transport and its stream.
//
// The specs are engine.io-protocol and socket.io-protocol; the judge is a
// real Node.js socket.io server (internal/nodeserver runs one for the
// interop tests).
package socketio
