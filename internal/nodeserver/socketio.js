'use strict';
// A socket.io 4.8 server as an application would write it, for the anysub
// Socket.IO transport to be judged against: namespaces "/" and "/chat",
// optional connection state recovery, optional auth middleware, and admin
// endpoints (under /admin/, served by express on the same port) for the Go
// package nodeserver (socketio.go), which starts and drives this script.
//
// Usage: node socketio.js [--port N] [--path P] [--recovery]
//                         [--max-disconnection MS] [--transports LIST]
//                         [--no-upgrades] [--ping-interval MS]
//                         [--ping-timeout MS] [--auth MODE] [--parent-pipe]
//   --port               port on 127.0.0.1 (0 = any free port)
//   --path               the Engine.IO path (default /socket.io/)
//   --recovery           enable connectionStateRecovery
//   --max-disconnection  its maxDisconnectionDuration (default 120000)
//   --transports         polling,websocket (default) or polling or websocket
//   --no-upgrades        allowUpgrades: false
//   --ping-interval      pingInterval (default 25000)
//   --ping-timeout       pingTimeout (default 20000)
//   --auth               "" (no middleware), "refuse" (every CONNECT is
//                        refused "Not authorized"), or "token:T" (only
//                        auth.token === T gets in)
//   --parent-pipe        exit when stdin closes (the parent process went away)
//
// Once listening it prints exactly one line "listening 127.0.0.1:PORT".

const http = require('http');
const express = require('express');
const { Server } = require('socket.io');

function parseArgs(argv) {
  const opts = {
    port: 0, path: '/socket.io/', recovery: false, maxDisconnection: 120000,
    transports: ['polling', 'websocket'], allowUpgrades: true,
    pingInterval: 25000, pingTimeout: 20000, auth: '', parentPipe: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const value = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--port': opts.port = Number(value()); break;
      case '--path': opts.path = value(); break;
      case '--recovery': opts.recovery = true; break;
      case '--max-disconnection': opts.maxDisconnection = Number(value()); break;
      case '--transports': opts.transports = value().split(','); break;
      case '--no-upgrades': opts.allowUpgrades = false; break;
      case '--ping-interval': opts.pingInterval = Number(value()); break;
      case '--ping-timeout': opts.pingTimeout = Number(value()); break;
      case '--auth': opts.auth = value(); break;
      case '--parent-pipe': opts.parentPipe = true; break;
      default:
        console.error(`socketio.js: unknown argument ${a}`);
        process.exit(2);
    }
  }
  for (const k of ['port', 'maxDisconnection', 'pingInterval', 'pingTimeout']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) {
      console.error(`socketio.js: bad ${k}`);
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---- the application ---------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const server = http.createServer(app);

const io = new Server(server, {
  path: opts.path,
  transports: opts.transports,
  allowUpgrades: opts.allowUpgrades,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  connectionStateRecovery: opts.recovery
    ? { maxDisconnectionDuration: opts.maxDisconnection, skipMiddlewares: true }
    : undefined,
});

const stats = {
  handshakes: { polling: 0, websocket: 0 },
  upgrades: 0,
  heartbeats: 0, // pongs received
  lastHeartbeat: 0, // when the last came, in ms since the epoch
  engineCloses: [], // reasons the engine gave for closing sessions
  connects: 0,
  recovered: 0,
  refused: 0,
  disconnects: [], // {nsp, reason}
  received: [], // {nsp, event, args}
  acks: [], // what clients answered to emitWithAck
  auths: [], // the CONNECT auth objects middlewares saw
};

io.engine.on('connection', (raw) => {
  stats.handshakes[raw.transport.name] = (stats.handshakes[raw.transport.name] || 0) + 1;
  raw.on('upgrade', () => { stats.upgrades++; });
  raw.on('heartbeat', () => { stats.heartbeats++; stats.lastHeartbeat = Date.now(); });
  raw.on('close', (reason) => { stats.engineCloses.push(reason); });
});

// authorize is the middleware of --auth.
function authorize(socket, next) {
  stats.auths.push(socket.handshake.auth);
  const mode = opts.auth;
  if (mode === 'refuse') {
    stats.refused++;
    const err = new Error('Not authorized');
    err.data = { reason: 'refused by the test server' };
    next(err);
    return;
  }
  if (mode.startsWith('token:')) {
    if (socket.handshake.auth.token !== mode.slice('token:'.length)) {
      stats.refused++;
      next(new Error('Not authorized: bad token'));
      return;
    }
  }
  next();
}

for (const name of ['/', '/chat']) {
  const nsp = io.of(name);
  if (opts.auth) nsp.use(authorize);
  nsp.on('connection', (socket) => {
    stats.connects++;
    if (socket.recovered) stats.recovered++;
    socket.onAny((event, ...args) => {
      stats.received.push({ nsp: name, event, args });
    });
    socket.on('disconnect', (reason) => {
      stats.disconnects.push({ nsp: name, reason });
    });
  });
}

// ---- admin -----------------------------------------------------------------

// Every TCP connection, so that drop can cut them.
const sockets = new Set();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
});

// decodeArgs turns {"$binary": "<base64>"} objects into Buffers, so that a
// test can emit binary attachments.
function decodeArgs(v) {
  if (Array.isArray(v)) return v.map(decodeArgs);
  if (v && typeof v === 'object') {
    if (typeof v.$binary === 'string' && Object.keys(v).length === 1) return Buffer.from(v.$binary, 'base64');
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeArgs(x);
    return out;
  }
  return v;
}

// Emits one event to every socket of a namespace: {nsp, event, args}.
app.post('/admin/emit', express.json(), (req, res) => {
  const b = req.body || {};
  io.of(b.nsp || '/').emit(b.event, ...decodeArgs(b.args || []));
  res.json({ ok: true });
});

// Emits an event asking each socket for an ack; the answers go to stats.acks.
app.post('/admin/emit-ack', express.json(), (req, res) => {
  const b = req.body || {};
  io.of(b.nsp || '/').timeout(5000).emit(b.event, ...(b.args || []), (err, answers) => {
    stats.acks.push(err ? { error: err.message } : { answers });
  });
  res.json({ ok: true });
});

// A stream of count events {"n": i} for i from 0, one every `every` ms
// (0: as fast as the event loop turns), in the background.
let stream = { emitted: 0, count: 0, done: true };
app.post('/admin/stream', express.json(), (req, res) => {
  const b = req.body || {};
  const nsp = io.of(b.nsp || '/');
  stream = { emitted: 0, count: b.count, done: false };
  const cur = stream;
  const tick = () => {
    if (cur !== stream) return;
    nsp.emit(b.event || 'n', { n: cur.emitted });
    cur.emitted++;
    if (cur.emitted >= cur.count) {
      cur.done = true;
      return;
    }
    if (b.every > 0) setTimeout(tick, b.every);
    else setImmediate(tick);
  };
  setImmediate(tick);
  res.json({ ok: true });
});

app.get('/admin/stream', (req, res) => {
  res.json({ emitted: stream.emitted, done: stream.done });
});

// cutAll ends every engine session as a failed transport does (the
// sessions' sockets are saved for recovery, reason "transport error") and
// cuts every TCP connection but the admin request's own. Cutting the TCP
// connections alone would often go unseen while polling: an idle
// keep-alive connection is simply replaced by the client.
function cutAll(req) {
  let n = 0;
  for (const raw of Object.values(io.engine.clients)) {
    raw.transport.onError('dropped by the test server');
    n++;
  }
  for (const s of sockets) {
    if (s !== req.socket) s.destroy();
  }
  return n;
}

// Cuts every session and connection, as a network failure would.
app.post('/admin/drop', (req, res) => {
  res.json({ dropped: cutAll(req) });
});

// Cuts the TCP connections only: the server sees a poll or a WebSocket
// broken under it as a failed transport, but the loss of an idle
// keep-alive connection goes unseen on both sides.
app.post('/admin/cut-tcp', (req, res) => {
  let n = 0;
  for (const s of sockets) {
    if (s === req.socket) continue;
    s.destroy();
    n++;
  }
  res.json({ cut: n });
});

// Cuts every connection (as drop does) and then, once the server has seen
// them go and saved their sessions, forgets those sessions, as a restart or
// an expired recovery window would: the next CONNECT cannot recover.
app.post('/admin/forget', (req, res) => {
  cutAll(req);
  setImmediate(() => setImmediate(() => {
    let n = 0;
    for (const name of ['/', '/chat']) {
      const sessions = io.of(name).adapter.sessions;
      if (sessions) {
        n += sessions.size;
        sessions.clear();
      }
    }
    res.json({ forgotten: n });
  }));
});

// Disconnects every socket of a namespace (a server-side namespace
// DISCONNECT: no recovery, and socket.io clients do not come back).
app.post('/admin/disconnect', express.json(), (req, res) => {
  const b = req.body || {};
  io.of(b.nsp || '/').disconnectSockets(false);
  res.json({ ok: true });
});

app.get('/admin/stats', (req, res) => {
  const namespaces = {};
  for (const name of ['/', '/chat']) {
    const nsp = io.of(name);
    namespaces[name] = {
      sockets: nsp.sockets.size,
      sids: nsp.adapter.sids.size,
      sessions: nsp.adapter.sessions ? nsp.adapter.sessions.size : 0,
      packets: nsp.adapter.packets ? nsp.adapter.packets.length : 0,
    };
  }
  res.json({ ...stats, open: io.engine.clientsCount, namespaces });
});

// ---- process -----------------------------------------------------------------

server.requestTimeout = 0;
server.timeout = 0;

function shutdown(code) {
  io.close();
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (opts.parentPipe) {
  process.stdin.on('end', () => shutdown(0));
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();
}

// listen binds, retrying for a few seconds while the port is still held (a
// restart right after the previous process was killed).
function listen(attempt) {
  const onError = (err) => {
    if (err.code === 'EADDRINUSE' && opts.port !== 0 && attempt < 50) {
      setTimeout(() => listen(attempt + 1), 100);
      return;
    }
    console.error(`socketio.js: listen: ${err.message}`);
    process.exit(1);
  };
  server.once('error', onError);
  server.listen({ port: opts.port, host: '127.0.0.1', backlog: 4096 }, () => {
    server.removeListener('error', onError);
    const { address, port } = server.address();
    process.stdout.write(`listening ${address}:${port}\n`);
  });
}
listen(0);
