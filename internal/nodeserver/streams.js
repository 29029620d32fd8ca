'use strict';
// Servers that stream live data over one long HTTP response, each written
// the way its model writes it, for the anysub HTTP stream transport and its
// whole-state polling to be checked against:
//
//   h2 port (HTTPS, http2.createSecureServer, HTTP/2 only; certificate and
//   key from --cert and --key, made by the Go test):
//     GET  /msgs    seed 000's stream: JSON.stringify({msg: getMsgs()}) on
//                   connect and after every new message, back to back with
//                   no delimiter, content type and all as the seed has it
//     POST /msgs    seed 000's post: {user, text} appended with a time
//   h2c port (cleartext HTTP/2 with prior knowledge, http2.createServer):
//     GET  /log?since=N   the messages after id N, then each new one, as
//                         JSON objects {"id","event","data"} back to back
//   main port (express over HTTP/1.1, chunked):
//     GET /db/_changes?feed=continuous&since=S&heartbeat=MS&timeout=MS
//         CouchDB's continuous changes feed: one {"seq","id","changes"}
//         per line, an empty line every heartbeat, and, once timeout
//         passes without a change, {"last_seq","pending":0} and the end
//     GET /api/v1/namespaces/default/pods?watch=1&resourceVersion=RV
//         a Kubernetes watch: {"type","object":{...metadata.resourceVersion}}
//         per line, from after RV (from now without it); 410 Gone with a
//         Status object when RV is older than the compacted history
//     GET /state   seed 000's short-polling endpoint, {"msg": [...]} with
//                  every message (no ids), with an ETag; 304 when the
//                  client's If-None-Match is current
//     /admin/...   controls for the Go package nodeserver (streams.go)
//
// Usage: node streams.js --cert FILE --key FILE [--port N] [--parent-pipe]
// Once all three listen it prints exactly one line "listening 127.0.0.1:PORT"
// (the main port); GET /admin/ports tells the other two.

const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const express = require('express');

// ---- command line ----------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 0, cert: '', key: '', parentPipe: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const value = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--port': opts.port = Number(value()); break;
      case '--cert': opts.cert = value(); break;
      case '--key': opts.key = value(); break;
      case '--parent-pipe': opts.parentPipe = true; break;
      default:
        console.error(`streams.js: unknown argument ${a}`);
        process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || !opts.cert || !opts.key) {
    console.error('streams.js: need --cert and --key, and a valid --port');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// requests records, per feed, what each request asked: its query and the
// protocol it came over.
const requests = { h2: [], h2c: [], changes: [], watch: [], state: [] };
function record(feed, query, proto) {
  requests[feed].push({ query, proto });
}

// ---- h2: seed 000's HTTP/2 stream --------------------------------------------

const msg = [];
const getMsgs = () => msg;
let connections = [];
const h2Sessions = new Set();

const h2 = http2.createSecureServer({
  cert: fs.readFileSync(opts.cert),
  key: fs.readFileSync(opts.key),
});
h2.on('session', (s) => {
  h2Sessions.add(s);
  s.on('close', () => h2Sessions.delete(s));
  s.on('error', () => {});
});
let h2SessionCount = 0;
h2.on('session', () => h2SessionCount++);

function h2Post(user, text) {
  const message = { user, text, time: Date.now() };
  msg.push(message);
  // trigger: write to every stream that is connected
  for (const connectionStream of connections) {
    connectionStream.write(JSON.stringify({ msg: getMsgs() }));
  }
  return message;
}

h2.on('stream', (stream, headers) => {
  const path = headers[':path'];
  const method = headers[':method'];
  stream.on('error', () => {});

  if (path.startsWith('/msgs') && method === 'GET') {
    record('h2', path, 'HTTP/2');
    stream.respond({
      ':status': 200,
      'content-type': 'text/plant; charset=utf8-8',
    });

    // keep the stream that has connected
    connections.push(stream);

    stream.write(JSON.stringify({
      msg: getMsgs(),
    }));
  } else if (path === '/msgs' && method === 'POST') {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c) => { body += c; });
    stream.on('end', () => {
      let b = {};
      try { b = JSON.parse(body); } catch { /* an empty message */ }
      const message = h2Post(b.user, b.text);
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ ...message, status: 'ok' }));
    });
  } else {
    stream.respond({ ':status': 404 });
    stream.end();
  }

  stream.on('close', () => {
    // drop the stream that has disconnected
    connections = connections.filter((connectionStream) => connectionStream.id !== stream.id);
  });
});

// ---- h2c: a log over cleartext HTTP/2 ------------------------------------------

const log = []; // wire form of message id N at log[N-1]
let logStreams = new Set();
const h2cSessions = new Set();
const h2c = http2.createServer();
h2c.on('session', (s) => {
  h2cSessions.add(s);
  s.on('close', () => h2cSessions.delete(s));
  s.on('error', () => {});
});
h2c.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const url = new URL(headers[':path'], 'http://127.0.0.1');
  if (url.pathname !== '/log' || headers[':method'] !== 'GET') {
    stream.respond({ ':status': 404 });
    stream.end();
    return;
  }
  record('h2c', url.search, 'HTTP/2');
  const since = Number(url.searchParams.get('since') || 0);
  if (!Number.isInteger(since) || since < 0) {
    stream.respond({ ':status': 400 });
    stream.end();
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/json' });
  const missed = log.slice(since).join('');
  if (missed) stream.write(missed);
  logStreams.add(stream);
  stream.on('close', () => logStreams.delete(stream));
});

// ---- main port: express ------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

// Sockets serving each feed, for the drop control.
const feedSockets = { changes: new Set(), watch: new Set(), state: new Set() };
function track(feed, req) {
  const socket = req.socket;
  const set = feedSockets[feed];
  if (!set.has(socket)) {
    set.add(socket);
    socket.on('close', () => set.delete(socket));
  }
}

// CouchDB continuous changes. A seq is opaque to clients: "N-g1AAAA..."
// here, its number first, as CouchDB 2+ sends it.
const changes = []; // {seq, id, rev}
const changeWaiters = new Set();
const seqOf = (n) => `${n}-g1AAAAB${(n * 7919).toString(36)}`;
const seqNumber = (s) => {
  if (s === undefined || s === '0') return 0;
  if (s === 'now') return changes.length;
  const n = Number(String(s).split('-')[0]);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, changes.length) : -1;
};

app.get('/db/_changes', (req, res) => {
  req.setTimeout(0);
  track('changes', req);
  record('changes', req.query, 'HTTP/' + req.httpVersion);
  if (req.query.feed !== 'continuous') {
    res.status(400).json({ error: 'bad_request', reason: 'only feed=continuous here' });
    return;
  }
  let at = seqNumber(req.query.since);
  if (at < 0) {
    res.status(400).json({ error: 'bad_request', reason: 'bad since' });
    return;
  }
  res.status(200).type('application/json');
  res.flushHeaders();
  const line = (c) => JSON.stringify({ seq: c.seq, id: c.id, changes: [{ rev: c.rev }] }) + '\n';
  const flush = () => {
    while (at < changes.length) res.write(line(changes[at++]));
    arm();
  };
  let idle = null;
  const timeout = Number(req.query.timeout || 0);
  function arm() {
    if (!timeout) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      res.end(JSON.stringify({ last_seq: at ? changes[at - 1].seq : '0', pending: 0 }) + '\n');
    }, timeout);
  }
  const beat = Number(req.query.heartbeat || 0);
  const heartbeat = beat > 0 ? setInterval(() => res.write('\n'), beat) : null;
  changeWaiters.add(flush);
  res.on('close', () => {
    changeWaiters.delete(flush);
    clearInterval(heartbeat);
    clearTimeout(idle);
  });
  flush();
});

// Kubernetes watch. resourceVersions count up; compacting forgets the
// history up to the current version, as etcd does after about 5 minutes.
const podEvents = []; // {rv, type, name}
let compacted = 0;
const watchWaiters = new Set();

app.get('/api/v1/namespaces/default/pods', (req, res) => {
  req.setTimeout(0);
  track('watch', req);
  record('watch', req.query, 'HTTP/' + req.httpVersion);
  if (req.query.watch !== '1' && req.query.watch !== 'true') {
    res.status(400).json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400 });
    return;
  }
  const latest = podEvents.length ? podEvents[podEvents.length - 1].rv : compacted;
  let from = latest; // no resourceVersion: from now
  if (req.query.resourceVersion !== undefined) {
    from = Number(req.query.resourceVersion);
    if (!Number.isInteger(from) || from < 0) {
      res.status(400).json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400 });
      return;
    }
    if (from < compacted) {
      res.status(410).json({
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: `too old resource version: ${from} (${compacted})`, reason: 'Expired', code: 410,
      });
      return;
    }
  }
  res.status(200).type('application/json');
  res.flushHeaders();
  const flush = () => {
    for (const e of podEvents) {
      if (e.rv <= from) continue;
      res.write(JSON.stringify({
        type: e.type,
        object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: e.name, namespace: 'default', resourceVersion: String(e.rv) } },
      }) + '\n');
      from = e.rv;
    }
  };
  watchWaiters.add(flush);
  res.on('close', () => watchWaiters.delete(flush));
  flush();
});

// Seed 000's short-polling endpoint, with an ETag.
const stateMsgs = [];
let stateVersion = 0;
const stateCounts = { ok: 0, notModified: 0 };
app.get('/state', (req, res) => {
  track('state', req);
  record('state', req.query, 'HTTP/' + req.httpVersion);
  const etag = `"v${stateVersion}"`;
  if (req.get('If-None-Match') === etag) {
    stateCounts.notModified++;
    res.status(304).set('ETag', etag).end();
    return;
  }
  stateCounts.ok++;
  res.set('ETag', etag).json({ msg: stateMsgs });
});

// ---- admin -----------------------------------------------------------------

app.post('/admin/publish', express.json(), (req, res) => {
  const b = req.body || {};
  const text = String(b.text || '');
  switch (b.feed) {
    case 'h2':
      h2Post(String(b.user || 'go'), text);
      res.json({ id: String(msg.length) });
      return;
    case 'h2c': {
      const id = log.length + 1;
      const item = JSON.stringify({ id, event: 'note', data: { text } });
      log.push(item);
      for (const s of logStreams) s.write(item);
      res.json({ id: String(id) });
      return;
    }
    case 'changes': {
      const n = changes.length + 1;
      changes.push({ seq: seqOf(n), id: `doc-${text}`, rev: `1-${n}` });
      for (const w of changeWaiters) w();
      res.json({ id: seqOf(n) });
      return;
    }
    case 'watch': {
      const rv = (podEvents.length ? podEvents[podEvents.length - 1].rv : compacted) + 1;
      podEvents.push({ rv, type: b.type || 'ADDED', name: text });
      for (const w of watchWaiters) w();
      res.json({ id: String(rv) });
      return;
    }
    case 'state':
      stateMsgs.push({ user: String(b.user || 'go'), text, time: Date.now() });
      stateVersion++;
      res.json({ id: String(stateMsgs.length) });
      return;
  }
  res.status(400).json({ error: 'unknown feed' });
});

// drop cuts every connection serving a feed without a proper end.
app.post('/admin/drop', express.json(), (req, res) => {
  const feed = (req.body || {}).feed;
  let n = 0;
  if (feed === 'h2' || feed === 'h2c') {
    const sessions = feed === 'h2' ? h2Sessions : h2cSessions;
    n = sessions.size;
    for (const s of sessions) s.destroy();
  } else if (feedSockets[feed]) {
    n = feedSockets[feed].size;
    for (const s of feedSockets[feed]) s.destroy();
  } else {
    res.status(400).json({ error: 'unknown feed' });
    return;
  }
  res.set('Connection', 'close').json({ dropped: n });
});

// compact forgets the watch history up to the current resourceVersion.
app.post('/admin/compact', (req, res) => {
  compacted = podEvents.length ? podEvents[podEvents.length - 1].rv : compacted;
  podEvents.length = 0;
  res.json({ rv: compacted });
});

app.get('/admin/stats', (req, res) => {
  res.json({
    requests,
    state: stateCounts,
    h2Sessions: h2SessionCount,
    live: { h2: connections.length, h2c: logStreams.size },
  });
});

// ---- servers ---------------------------------------------------------------

const server = http.createServer({ noDelay: true }, app);
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;
server.requestTimeout = 0;
server.timeout = 0;
const sockets = new Set();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
});

const ports = {};
app.get('/admin/ports', (req, res) => res.json(ports));

function shutdown(code) {
  for (const s of sockets) s.destroy();
  for (const s of h2Sessions) s.destroy();
  for (const s of h2cSessions) s.destroy();
  server.close();
  h2.close();
  h2c.close(() => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (opts.parentPipe) {
  process.stdin.on('end', () => shutdown(0));
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();
}

for (const s of [server, h2, h2c]) {
  s.on('error', (err) => {
    console.error(`streams.js: ${err.message}`);
    process.exit(1);
  });
}
h2.listen({ port: 0, host: '127.0.0.1' }, () => {
  ports.h2 = h2.address().port;
  h2c.listen({ port: 0, host: '127.0.0.1' }, () => {
    ports.h2c = h2c.address().port;
    server.listen({ port: opts.port, host: '127.0.0.1' }, () => {
      const { address, port } = server.address();
      ports.main = port;
      process.stdout.write(`listening ${address}:${port}\n`);
    });
  });
});
