'use strict';
// A small live-data server in the style of real Node.js deployments: express
// for HTTP (polling, long polling, hand-written Server-Sent Events, an NDJSON
// stream) and ws for WebSocket, all serving one shared message log. The
// anysub interop tests run the Go client against it; the Go package
// nodeserver starts and drives it.
//
// Usage: node server.js [--port N] [--log FILE] [--keepalive MS] [--hold MS]
//                       [--parent-pipe]
//   --port        port on 127.0.0.1 (env PORT; 0 = any free port)
//   --log         JSON-lines file: loaded at start, appended and fsync'd on
//                 every publish, so a restarted server keeps its ids
//   --keepalive   SSE comment (and /stream empty line) interval in ms
//                 (0 = none; default 5000)
//   --hold        how long /long holds an empty request, in ms (default 20000;
//                 0 answers at once)
//   --parent-pipe exit when stdin closes (the parent process went away)
//
// Once listening it prints exactly one line "listening 127.0.0.1:PORT".

const fs = require('fs');
const http = require('http');
const express = require('express');
const { WebSocketServer } = require('ws');

// ---- command line ----------------------------------------------------------

function parseArgs(argv) {
  const opts = {
    port: Number(process.env.PORT || 0),
    log: '',
    keepAlive: 5000,
    hold: 20000,
    parentPipe: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const value = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--port': opts.port = Number(value()); break;
      case '--log': opts.log = value(); break;
      case '--keepalive': opts.keepAlive = Number(value()); break;
      case '--hold': opts.hold = Number(value()); break;
      case '--parent-pipe': opts.parentPipe = true; break;
      default:
        console.error(`server.js: unknown argument ${a}`);
        process.exit(2);
    }
  }
  for (const k of ['port', 'keepAlive', 'hold']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) {
      console.error(`server.js: bad ${k}`);
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---- the message log -------------------------------------------------------
// Ids are 1, 2, 3, ... so message id N lives at log[N-1]. Each entry keeps
// its wire forms, built once, so a broadcast to n clients costs n writes.

const MAX_BATCH = 1000; // messages per poll / long-poll answer
const log = [];
let logFd = -1;

function makeEntry(id, event, dataJSON) {
  const ids = String(id);
  const json = `{"id":"${ids}","event":${JSON.stringify(event)},"data":${dataJSON}}`;
  let sse = `id: ${ids}\n`;
  if (event) sse += `event: ${event}\n`;
  sse += `data: ${dataJSON}\n\n`;
  return { id, json, sse };
}

function loadLog(file) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  // A line without its newline is a publish that never finished (the server
  // was killed mid-write, before answering): drop it so appends stay whole.
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) {
    fs.truncateSync(file, Buffer.byteLength(text.slice(0, end)));
    text = text.slice(0, end);
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = JSON.parse(line);
    const id = Number(m.id);
    if (id !== log.length + 1) throw new Error(`${file}: id ${m.id} out of sequence`);
    log.push(makeEntry(id, m.event || '', JSON.stringify(m.data === undefined ? null : m.data)));
  }
  logFd = fs.openSync(file, 'a');
}

function lastId() {
  return log.length;
}

// appendMessage stores one message (durably when --log is set) and wakes
// every waiting client.
function appendMessage(event, data) {
  const id = log.length + 1;
  const dataJSON = JSON.stringify(data === undefined ? null : data);
  if (logFd >= 0) {
    fs.appendFileSync(logFd, JSON.stringify({ id: String(id), event, data: data === undefined ? null : data }) + '\n');
    fs.fsyncSync(logFd);
  }
  log.push(makeEntry(id, event, dataJSON));
  broadcast();
  return id;
}

// since parses a cursor; anything that is not a decimal id means "from the
// start of the log".
function since(v) {
  if (typeof v !== 'string' || !/^[0-9]{1,15}$/.test(v)) return 0;
  return Number(v);
}

function batchJSON(after) {
  const from = Math.min(after, log.length);
  const to = Math.min(from + MAX_BATCH, log.length);
  const parts = [];
  for (let i = from; i < to; i++) parts.push(log[i].json);
  return '[' + parts.join(',') + ']';
}

// ---- faults and counters ---------------------------------------------------

const faults = {
  refuseWS: 0, // status for WebSocket upgrades; 0 accepts
  sseContentType: '', // "" = text/event-stream
  stalled: new Set(), // paths whose new connections are accepted and then starved
  disabled: new Map(), // path -> status answered instead of serving
};
const requests = new Map(); // path -> requests and upgrades seen

function count(path) {
  requests.set(path, (requests.get(path) || 0) + 1);
}

// ---- live clients ----------------------------------------------------------
// Every streaming client has a cursor (the last id written to it) and a pump
// that writes from there while the socket accepts more. A client whose socket
// is backed up is resumed by its 'drain' event, so a slow reader costs memory
// bounded by one socket buffer, and a publish costs O(clients).

const sockets = new Set(); // every TCP connection, for DropAll
const streams = new Set(); // live SSE and WebSocket clients
const waiters = new Set(); // held long polls

function pump(c) {
  while (c.cursor < log.length && !c.socket.destroyed && !c.socket.writableNeedDrain) {
    const e = log[c.cursor];
    c.cursor++;
    c.write(e);
  }
}

function broadcast() {
  for (const c of streams) pump(c);
  for (const w of waiters) w.answer();
}

// ---- HTTP: express ---------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

app.use((req, res, next) => {
  count(req.path);
  const status = faults.disabled.get(req.path);
  if (status) {
    res.status(status).type('text/plain').send(`disabled (${status})\n`);
    return;
  }
  next();
});

// stall holds a request: nothing is ever written (for SSE, only the headers
// already flushed). The socket stays tracked, so DropAll still cuts it.
function stallOn(path) {
  return faults.stalled.has(path);
}

app.get('/sse', (req, res) => {
  req.setTimeout(0);
  if (faults.sseContentType) {
    res.status(200).type(faults.sseContentType).send('<html><body>not an event stream</body></html>\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);
  if (stallOn('/sse')) return;
  const cur = req.get('Last-Event-ID') !== undefined ? since(req.get('Last-Event-ID')) : since(req.query.since);
  const c = {
    cursor: cur,
    socket: req.socket,
    write: (e) => res.write(e.sse),
    comment: () => res.write(': keep-alive\n\n'),
  };
  streams.add(c);
  res.on('drain', () => pump(c));
  res.on('close', () => streams.delete(c));
  pump(c);
});

// An HTTP stream of the log as NDJSON, one {"id","event","data"} object per
// line, from after the since cursor; an empty line every keep-alive.
app.get('/stream', (req, res) => {
  req.setTimeout(0);
  res.writeHead(200, {
    'Content-Type': 'application/x-ndjson',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);
  if (stallOn('/stream')) return;
  const c = {
    cursor: since(req.query.since),
    socket: req.socket,
    write: (e) => res.write(e.json + '\n'),
    comment: () => res.write('\n'),
  };
  streams.add(c);
  res.on('drain', () => pump(c));
  res.on('close', () => streams.delete(c));
  pump(c);
});

app.get('/long', (req, res) => {
  req.setTimeout(0);
  if (stallOn('/long')) return;
  const after = since(req.query.since);
  if (after < log.length) {
    res.type('application/json').send(batchJSON(after));
    return;
  }
  const w = {
    answer() {
      if (after >= log.length) return;
      done();
      res.type('application/json').send(batchJSON(after));
    },
  };
  if (opts.hold === 0) {
    res.type('application/json').send('[]');
    return;
  }
  const timer = setTimeout(() => { done(); res.type('application/json').send('[]'); }, opts.hold);
  function done() {
    waiters.delete(w);
    clearTimeout(timer);
  }
  waiters.add(w);
  res.on('close', done);
});

app.get('/poll', (req, res) => {
  if (stallOn('/poll')) return;
  res.type('application/json').send(batchJSON(since(req.query.since)));
});

app.get('/ws', (req, res) => {
  res.status(426).set('Upgrade', 'websocket').type('text/plain').send('WebSocket upgrade required\n');
});

app.post('/publish', express.json({ limit: '64mb' }), (req, res) => {
  const b = req.body || {};
  if (b.event !== undefined && (typeof b.event !== 'string' || /[\r\n]/.test(b.event))) {
    res.status(400).json({ error: 'event must be a string of one line' });
    return;
  }
  const id = appendMessage(b.event || '', b.data);
  res.json({ id: String(id) });
});

// ---- admin -----------------------------------------------------------------

app.post('/admin/drop-all', (req, res) => {
  const own = req.socket;
  for (const s of sockets) {
    if (s !== own) s.destroy();
  }
  res.set('Connection', 'close').json({ dropped: sockets.size - 1 });
});

app.post('/admin/refuse-websocket', express.json(), (req, res) => {
  const status = Number((req.body || {}).status || 0);
  if (!Number.isInteger(status) || (status !== 0 && (status < 200 || status > 599 || status === 101))) {
    res.status(400).json({ error: 'bad status' });
    return;
  }
  faults.refuseWS = status;
  res.json({ status });
});

app.post('/admin/sse-content-type', express.json(), (req, res) => {
  faults.sseContentType = String((req.body || {}).contentType || '');
  res.json({ contentType: faults.sseContentType });
});

app.post('/admin/stall', express.json(), (req, res) => {
  const b = req.body || {};
  if (typeof b.path !== 'string' || !b.path.startsWith('/')) {
    res.status(400).json({ error: 'path required' });
    return;
  }
  if (b.on) faults.stalled.add(b.path);
  else faults.stalled.delete(b.path);
  res.json({ path: b.path, on: !!b.on });
});

// Not part of the Go API's fixed set, but handy for outages: answer every
// request (or upgrade) on path with status; 0 serves again.
app.post('/admin/disable', express.json(), (req, res) => {
  const b = req.body || {};
  const status = Number(b.status || 0);
  if (typeof b.path !== 'string' || !b.path.startsWith('/') || !Number.isInteger(status) ||
      (status !== 0 && (status < 200 || status > 599))) {
    res.status(400).json({ error: 'path and status required' });
    return;
  }
  if (status) faults.disabled.set(b.path, status);
  else faults.disabled.delete(b.path);
  res.json({ path: b.path, status });
});

app.get('/admin/requests', (req, res) => {
  const path = String(req.query.path || '');
  res.json({ path, count: requests.get(path) || 0 });
});

app.get('/admin/last-id', (req, res) => {
  res.json({ id: log.length ? String(lastId()) : '' });
});

// ---- WebSocket: ws ---------------------------------------------------------

const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });

function refuseUpgrade(socket, status) {
  const reason = http.STATUS_CODES[status] || 'Refused';
  const body = `upgrade refused (${status})\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function onUpgrade(req, socket, head) {
  const url = new URL(req.url, 'http://127.0.0.1');
  count(url.pathname);
  if (url.pathname !== '/ws') {
    refuseUpgrade(socket, 404);
    return;
  }
  const status = faults.disabled.get('/ws') || faults.refuseWS;
  if (status) {
    refuseUpgrade(socket, status);
    return;
  }
  const stall = stallOn('/ws');
  wss.handleUpgrade(req, socket, head, (ws) => {
    socket.setNoDelay(true);
    if (stall) {
      // Upgrade done; now never read (pings go unanswered) and never write.
      socket.pause();
      return;
    }
    const c = {
      cursor: since(url.searchParams.get('since')),
      socket,
      write: (e) => ws.send(e.json),
    };
    streams.add(c);
    socket.on('drain', () => pump(c));
    ws.on('close', () => streams.delete(c));
    ws.on('error', () => socket.destroy());
    ws.on('message', () => {}); // clients have nothing to say
    pump(c);
  });
}

// ---- server ----------------------------------------------------------------

const server = http.createServer({ noDelay: true }, app);
server.keepAliveTimeout = 5000; // idle keep-alive connections
server.headersTimeout = 10000; // must exceed keepAliveTimeout
server.requestTimeout = 0; // streams live as long as the client wants
server.timeout = 0;
server.maxHeadersCount = 100;
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {}); // resets from clients that went away
});
server.on('upgrade', onUpgrade);
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

let keepAliveTimer = null;
if (opts.keepAlive > 0) {
  keepAliveTimer = setInterval(() => {
    for (const c of streams) {
      if (c.comment && !c.socket.writableNeedDrain) c.comment();
    }
  }, opts.keepAlive);
}

function shutdown(code) {
  if (keepAliveTimer) clearInterval(keepAliveTimer);
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
    console.error(`server.js: listen: ${err.message}`);
    process.exit(1);
  };
  server.once('error', onError);
  server.listen({ port: opts.port, host: '127.0.0.1', backlog: 4096 }, () => {
    server.removeListener('error', onError);
    const { address, port } = server.address();
    process.stdout.write(`listening ${address}:${port}\n`);
  });
}

try {
  if (opts.log) loadLog(opts.log);
} catch (err) {
  console.error(`server.js: loading ${opts.log}: ${err.message}`);
  process.exit(1);
}
listen(0);
