'use strict';
// The socket.io server of the Socket.IO benchmarks (bench/socketio_test.go):
// every client row, Go or Node, reads this one process. A socket that
// connects to namespace "/" with the query parameter n=N is sent N events
// "tick", event i (from 1) carrying one argument {"seq": i, "text": TEXT},
// as fast as the connection takes them; n=0 (or none) leaves it idle.
// GET /sessions answers {"sessions": S}, the Engine.IO sessions open.
//
// Usage: node server.js --text TEXT [--batch B]
//   --text   the text of every event (the Go source's, so that the events
//            match bench's messages byte for byte)
//   --batch  how many events may wait in a session's write buffer before
//            the server waits for it to drain (default 100): over polling,
//            at most that many events per response
//
// It listens on 127.0.0.1, any free port, and prints one line
// "listening PORT". It exits when stdin closes.

const http = require('http');
const { Server } = require('socket.io');

let text = '';
let batch = 100;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--text': text = argv[++i]; break;
    case '--batch': batch = Number(argv[++i]); break;
    default:
      console.error(`server.js: unknown argument ${argv[i]}`);
      process.exit(2);
  }
}
if (!text || !Number.isInteger(batch) || batch < 1) {
  console.error('server.js: --text is required and --batch must be a positive integer');
  process.exit(2);
}

// GET /sessions answers how many Engine.IO sessions are open, so that a
// measurement can wait until the previous row's connections are gone.
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/sessions') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ sessions: io.engine.clientsCount }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(server, {
  transports: ['polling', 'websocket'],
  // No compression on either carrier: every client reads the same bytes.
  perMessageDeflate: false,
  httpCompression: false,
});

io.on('connection', (socket) => {
  const n = Number(socket.handshake.query.n || 0);
  if (!Number.isInteger(n) || n <= 0) return;
  const conn = socket.conn; // the Engine.IO session
  let sent = 0;
  let closed = false;
  socket.on('disconnect', () => { closed = true; });
  // pump emits until the session's write buffer holds `batch` packets, then
  // waits for the session to hand them to its carrier ('drain'): over
  // WebSocket once the previous frames are written to the socket, over
  // polling once a GET has taken them.
  const pump = () => {
    while (!closed && sent < n) {
      if (conn.writeBuffer.length >= batch) {
        conn.once('drain', pump);
        return;
      }
      sent++;
      socket.emit('tick', { seq: sent, text });
    }
  };
  pump();
});

const sockets = new Set();
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  s.on('error', () => {});
});

function shutdown() {
  io.close();
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);

server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
