'use strict';
// Three small live-data servers on one port, each written the way Node.js
// tutorials write such servers, so that the anysub SDK can be checked
// against protocols it was not shaped after:
//
//   /chat       a ws chat: the first frame logs in with a user id, then
//               every "say" frame is logged with an integer id and broadcast
//               to everyone logged in. A login may carry "since" to replay
//               the log after that id.
//   /board      a ws board: {"type":"subscribe",...} frames are answered
//               {"reqid":K,"result":true} and followed by the cards of that
//               board; the client must send application pings
//               {"type":"ping","reqid":K} or it is dropped.
//   /feed/ws    a trade feed whose items carry their id in "u" (not "id"),
//   /feed/long  over WebSocket and long polling, resumable with ?after=<u>.
//
// Every dialect has admin endpoints under /admin/ for the Go package
// nodeserver (dialects.go), which starts and drives this script.
//
// Usage: node dialects.js [--port N] [--board-ping-timeout MS]
//                         [--feed-hold MS] [--parent-pipe]
//   --port                port on 127.0.0.1 (0 = any free port)
//   --board-ping-timeout  how long a board client may go without an
//                         application ping before it is dropped (default 1500)
//   --feed-hold           how long /feed/long holds a request that has nothing
//                         new, in ms (default 20000; 0 answers at once)
//   --parent-pipe         exit when stdin closes (the parent process went away)
//
// Once listening it prints exactly one line "listening 127.0.0.1:PORT".

const http = require('http');
const express = require('express');
const WebSocket = require('ws');

// ---- command line ----------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 0, boardPingTimeout: 1500, feedHold: 20000, parentPipe: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const value = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--port': opts.port = Number(value()); break;
      case '--board-ping-timeout': opts.boardPingTimeout = Number(value()); break;
      case '--feed-hold': opts.feedHold = Number(value()); break;
      case '--parent-pipe': opts.parentPipe = true; break;
      default:
        console.error(`dialects.js: unknown argument ${a}`);
        process.exit(2);
    }
  }
  for (const k of ['port', 'boardPingTimeout', 'feedHold']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) {
      console.error(`dialects.js: bad ${k}`);
      process.exit(2);
    }
  }
  if (opts.boardPingTimeout === 0) {
    console.error('dialects.js: --board-ping-timeout must be positive');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// parseJSON returns the object a frame holds, or null.
function parseJSON(data) {
  try {
    const v = JSON.parse(data.toString());
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

// position parses a resume position: a whole number, or its decimal text.
// It returns undefined when v is absent or null, and NaN when it is neither
// absent nor a valid position.
function position(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^[0-9]{1,15}$/.test(v)) return Number(v);
  return NaN;
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

// ---- chat ------------------------------------------------------------------
// The tutorial chat: a ws server whose clients send their user id as soon as
// the socket opens, and a broadcast to every client of wss.clients. Here a
// message is also given an id and kept, so that a client that comes back can
// ask for what it missed.

const chat = new WebSocket.Server({ noServer: true, perMessageDeflate: false });
const chatLog = []; // wire form of message id N at chatLog[N-1]
const chatLogins = []; // every login frame seen: {user, since (as sent), refused}
const chatHeld = new Set(); // users whose logins are turned away for now

chat.broadcast = function (data) {
  chat.clients.forEach(function (client) {
    if (client.user && client.readyState === WebSocket.OPEN) client.send(data);
  });
};

chat.on('connection', function (ws) {
  ws.user = null; // nothing is sent until the client has logged in
  ws.on('error', () => ws.terminate());
  ws.on('message', function (data) {
    const msg = parseJSON(data);
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!ws.user) {
      if (!msg || msg.type !== 'login' || typeof msg.user !== 'string' || msg.user === '') {
        ws.close(4001, 'login first');
        return;
      }
      const since = position(msg.since);
      const refused = chatHeld.has(msg.user);
      chatLogins.push({ user: msg.user, since: msg.since, refused }); // an absent since stays absent
      if (Number.isNaN(since)) {
        ws.close(4002, 'bad since');
        return;
      }
      if (refused) {
        ws.close(1013, 'try again later');
        return;
      }
      ws.user = msg.user;
      if (since !== undefined) {
        for (const m of chatLog.slice(since)) ws.send(m);
      }
      return;
    }
    if (msg && msg.type === 'say') {
      const m = JSON.stringify({
        id: chatLog.length + 1,
        user: ws.user,
        text: msg.text === undefined ? null : msg.text,
        cid: msg.cid === undefined ? null : msg.cid,
      });
      chatLog.push(m);
      chat.broadcast(m);
    }
    // Anything else from a logged-in client is ignored, as tutorials do.
  });
});

// Cuts every chat connection without a close handshake.
app.post('/admin/chat/drop', (req, res) => {
  let n = 0;
  chat.clients.forEach((ws) => { ws.terminate(); n++; });
  res.json({ dropped: n });
});

// Turns away (close 1013) or lets in again the logins of one user.
app.post('/admin/chat/hold', express.json(), (req, res) => {
  const b = req.body || {};
  if (typeof b.user !== 'string' || b.user === '') {
    res.status(400).json({ error: 'user required' });
    return;
  }
  if (b.on) chatHeld.add(b.user);
  else chatHeld.delete(b.user);
  res.json({ user: b.user, on: !!b.on });
});

app.get('/admin/chat/logins', (req, res) => {
  res.json({ logins: chatLogins });
});

// ---- board -----------------------------------------------------------------
// The frames of a real board application's socket: requests carry a reqid
// that the reply repeats, subscriptions are requests, and the client keeps the
// link alive with pings of its own (a browser cannot send protocol pings).
// A client that has not pinged for --board-ping-timeout ms is closed with
// code 4000.

const board = new WebSocket.Server({ noServer: true, perMessageDeflate: false });
const cards = new Map(); // board name -> wire forms of its cards, seq N at [N-1]
const boardStats = { connections: 0, pings: 0, timeouts: 0, subscribes: [] };

function cardsOf(name) {
  let list = cards.get(name);
  if (!list) {
    list = [];
    cards.set(name, list);
  }
  return list;
}

board.on('connection', function (ws) {
  boardStats.connections++;
  ws.boards = new Set();
  const timedOut = () => {
    boardStats.timeouts++;
    ws.close(4000, 'ping timeout');
  };
  let pingTimer = setTimeout(timedOut, opts.boardPingTimeout);
  ws.on('close', () => clearTimeout(pingTimer));
  ws.on('error', () => ws.terminate());
  ws.on('message', function (data) {
    const msg = parseJSON(data);
    if (!msg || ws.readyState !== WebSocket.OPEN) return;
    const reqid = msg.reqid === undefined ? null : msg.reqid;
    const reply = (result, error) => ws.send(JSON.stringify(error ? { reqid, result, error } : { reqid, result }));
    switch (msg.type) {
      case 'ping':
        boardStats.pings++;
        clearTimeout(pingTimer);
        pingTimer = setTimeout(timedOut, opts.boardPingTimeout);
        reply(true);
        break;
      case 'subscribe': {
        const since = position(msg.since);
        if (typeof msg.board !== 'string' || msg.board === '' || Number.isNaN(since) || typeof msg.since === 'string') {
          reply(false, 'subscribe needs a board and a numeric since or null');
          break;
        }
        boardStats.subscribes.push({ board: msg.board, since: since === undefined ? null : since });
        reply(true);
        ws.boards.add(msg.board);
        if (since !== undefined) {
          for (const c of cardsOf(msg.board).slice(since)) ws.send(c);
        }
        break;
      }
      default:
        reply(false, 'unknown type');
    }
  });
});

app.post('/admin/board/publish', express.json(), (req, res) => {
  const b = req.body || {};
  if (typeof b.board !== 'string' || b.board === '') {
    res.status(400).json({ error: 'board required' });
    return;
  }
  const list = cardsOf(b.board);
  const seq = list.length + 1;
  const card = JSON.stringify({ type: 'card', seq, board: b.board, text: b.text === undefined ? null : b.text });
  list.push(card);
  board.clients.forEach((ws) => {
    if (ws.boards.has(b.board) && ws.readyState === WebSocket.OPEN) ws.send(card);
  });
  res.json({ seq });
});

app.post('/admin/board/drop', (req, res) => {
  let n = 0;
  board.clients.forEach((ws) => { ws.terminate(); n++; });
  res.json({ dropped: n });
});

app.get('/admin/board/stats', (req, res) => {
  res.json({ ...boardStats, open: board.clients.size });
});

// ---- feed ------------------------------------------------------------------
// A market-data style feed: items {"u":N,"kind":...,"payload":{...}} with
// increasing integer ids in "u", starting above 1000 so that nothing can
// pass by counting from 1. Both endpoints resume from ?after=<u> and, with
// no after, start with the next item published.

const FEED_FIRST = 1001;
const MAX_BATCH = 500;
const feed = []; // wire form of item u at feed[u-FEED_FIRST]
const feedWS = new WebSocket.Server({ noServer: true, perMessageDeflate: false });
const feedSockets = new Set(); // every connection that has served /feed
const feedWaiters = new Set(); // held long polls
const feedRequests = []; // {path, query} of every feed request and upgrade
let feedRefuseWS = 0;

// feedStart returns the index in feed of the first item after the after
// parameter q (null: none given), or -1 when q is not a valid id.
function feedStart(q) {
  if (q === null) return feed.length;
  const u = position(q);
  if (Number.isNaN(u)) return -1;
  return Math.min(Math.max(u - FEED_FIRST + 1, 0), feed.length);
}

function trackFeed(req) {
  const socket = req.socket;
  if (!feedSockets.has(socket)) {
    feedSockets.add(socket);
    socket.on('close', () => feedSockets.delete(socket));
  }
}

app.get('/feed/long', (req, res) => {
  req.setTimeout(0);
  trackFeed(req);
  const after = req.query.after === undefined ? null : String(req.query.after);
  feedRequests.push({ path: '/feed/long', query: req.query });
  const from = feedStart(after);
  if (from < 0) {
    res.status(400).json({ error: 'bad after' });
    return;
  }
  const answer = () => res.type('application/json').send('[' + feed.slice(from, from + MAX_BATCH).join(',') + ']');
  if (from < feed.length || opts.feedHold === 0) {
    answer();
    return;
  }
  const w = () => {
    done();
    answer();
  };
  const timer = setTimeout(w, opts.feedHold);
  function done() {
    feedWaiters.delete(w);
    clearTimeout(timer);
  }
  feedWaiters.add(w);
  res.on('close', done);
});

app.get('/feed/ws', (req, res) => {
  res.status(426).set('Upgrade', 'websocket').type('text/plain').send('WebSocket upgrade required\n');
});

feedWS.on('connection', function (ws, req, from) {
  ws.on('error', () => ws.terminate());
  for (const item of feed.slice(from)) ws.send(item);
});

app.post('/admin/feed/publish', express.json(), (req, res) => {
  const b = req.body || {};
  if (typeof b.kind !== 'string') {
    res.status(400).json({ error: 'kind required' });
    return;
  }
  const u = FEED_FIRST + feed.length;
  const item = JSON.stringify({ u, kind: b.kind, payload: b.payload === undefined ? null : b.payload });
  feed.push(item);
  feedWS.clients.forEach((ws) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(item);
  });
  for (const w of feedWaiters) w();
  res.json({ u });
});

app.post('/admin/feed/drop', (req, res) => {
  const n = feedSockets.size;
  for (const s of feedSockets) s.destroy();
  res.set('Connection', 'close').json({ dropped: n });
});

app.post('/admin/feed/refuse-websocket', express.json(), (req, res) => {
  const status = Number((req.body || {}).status || 0);
  if (!Number.isInteger(status) || (status !== 0 && (status < 200 || status > 599 || status === 101))) {
    res.status(400).json({ error: 'bad status' });
    return;
  }
  feedRefuseWS = status;
  res.json({ status });
});

app.get('/admin/feed/requests', (req, res) => {
  res.json({ requests: feedRequests });
});

// ---- upgrades --------------------------------------------------------------

function refuseUpgrade(socket, status) {
  const body = `upgrade refused (${status})\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] || 'Refused'}\r\nConnection: close\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function onUpgrade(req, socket, head) {
  socket.on('error', () => socket.destroy());
  const url = new URL(req.url, 'http://127.0.0.1');
  switch (url.pathname) {
    case '/chat':
      chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
      return;
    case '/board':
      board.handleUpgrade(req, socket, head, (ws) => board.emit('connection', ws, req));
      return;
    case '/feed/ws': {
      const after = url.searchParams.get('after');
      feedRequests.push({ path: '/feed/ws', query: Object.fromEntries(url.searchParams) });
      const from = feedStart(after);
      if (feedRefuseWS) {
        refuseUpgrade(socket, feedRefuseWS);
        return;
      }
      if (from < 0) {
        refuseUpgrade(socket, 400);
        return;
      }
      trackFeed(req);
      feedWS.handleUpgrade(req, socket, head, (ws) => feedWS.emit('connection', ws, req, from));
      return;
    }
    default:
      refuseUpgrade(socket, 404);
  }
}

// ---- server ----------------------------------------------------------------

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
server.on('upgrade', onUpgrade);
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

function shutdown(code) {
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

server.listen({ port: opts.port, host: '127.0.0.1' }, () => {
  const { address, port } = server.address();
  process.stdout.write(`listening ${address}:${port}\n`);
});
server.on('error', (err) => {
  console.error(`dialects.js: ${err.message}`);
  process.exit(1);
});
