'use strict';
// The official socket.io-client, measured by bench/socketio_test.go against
// server.js. It prints one JSON line on stdout and exits.
//
// Usage: node --expose-gc client.js MODE --url URL --transport T --text TEXT [--n N] [--conns C]
//
//   throughput  one socket (forceNew, no reconnection) on carrier T
//               ("websocket" or "polling", never upgraded) reads N events
//               "tick". Prints {"events", "bad", "firstBad", "ns", "cpuUs"}:
//               events counted, how many were not event i = {"seq": i,
//               "text": TEXT} (checked only with --check), the first such,
//               the nanoseconds from just before io() to the Nth event, and
//               the process's CPU time (user + system) over the same span.
//   idle        opens C sockets (each its own Engine.IO session on carrier
//               T), waits until every one is connected, and prints
//               {"conns", "rss", "heap", "external"}: the growth of the
//               process's resident set, of V8's used heap and of memory
//               outside the heap (buffers) across the C connections, each
//               after two full garbage collections.
//
// --check makes throughput compare every event with the expected one
// (JSON.stringify of its arguments against the expected text), for the
// intact test; the throughput benchmark runs without it, as the Go rows do
// no checking.

const { io } = require('socket.io-client');

const mode = process.argv[2];
const opts = { url: '', transport: 'websocket', text: '', n: 0, conns: 0, check: false };
const argv = process.argv.slice(3);
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--url': opts.url = argv[++i]; break;
    case '--transport': opts.transport = argv[++i]; break;
    case '--text': opts.text = argv[++i]; break;
    case '--n': opts.n = Number(argv[++i]); break;
    case '--conns': opts.conns = Number(argv[++i]); break;
    case '--check': opts.check = true; break;
    default:
      fail(`unknown argument ${argv[i]}`);
  }
}

function fail(msg) {
  console.error(`client.js: ${msg}`);
  process.exit(2);
}

function connect(n) {
  return io(opts.url, {
    transports: [opts.transport],
    upgrade: false,
    forceNew: true,
    reconnection: false,
    query: { n: String(n) },
  });
}

function gc() {
  if (typeof global.gc !== 'function') fail('run node with --expose-gc');
  global.gc();
  global.gc();
}

function throughput() {
  if (!Number.isInteger(opts.n) || opts.n < 1) fail('--n must be a positive integer');
  const want = (i) => `[{"seq":${i},"text":${JSON.stringify(opts.text)}}]`;
  let events = 0;
  let bad = 0;
  let firstBad = '';
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const socket = connect(opts.n);
  socket.on('tick', (...args) => {
    events++;
    if (opts.check) {
      const got = JSON.stringify(args);
      if (got !== want(events)) {
        bad++;
        if (!firstBad) firstBad = `event ${events}: ${got.slice(0, 120)}`;
      }
    }
    if (events === opts.n) {
      const ns = process.hrtime.bigint() - t0;
      const cpu = process.cpuUsage(cpu0);
      process.stdout.write(JSON.stringify({ events, bad, firstBad, ns: Number(ns), cpuUs: cpu.user + cpu.system }) + '\n');
      process.exit(0);
    }
  });
  const end = (why) => {
    process.stdout.write(JSON.stringify({ events, bad, firstBad, error: String(why) }) + '\n');
    process.exit(1);
  };
  socket.on('connect_error', end);
  socket.on('disconnect', (reason) => end(`disconnected: ${reason}`));
}

function idle() {
  if (!Number.isInteger(opts.conns) || opts.conns < 1) fail('--conns must be a positive integer');
  gc();
  const m0 = process.memoryUsage();
  const sockets = [];
  let connected = 0;
  for (let i = 0; i < opts.conns; i++) {
    const s = connect(0);
    s.on('connect', () => {
      connected++;
      if (connected === opts.conns) measure();
    });
    s.on('connect_error', (err) => {
      process.stdout.write(JSON.stringify({ error: String(err) }) + '\n');
      process.exit(1);
    });
    sockets.push(s);
  }
  function measure() {
    // One more turn of the event loop, so that what each connect left for
    // later has run, then the measurement.
    setImmediate(() => {
      gc();
      const m1 = process.memoryUsage();
      process.stdout.write(JSON.stringify({
        conns: connected,
        rss: m1.rss - m0.rss,
        heap: m1.heapUsed - m0.heapUsed,
        external: m1.external - m0.external,
      }) + '\n');
      for (const s of sockets) s.close();
      process.exit(0);
    });
  }
}

switch (mode) {
  case 'throughput': throughput(); break;
  case 'idle': idle(); break;
  default: fail(`unknown mode ${mode}`);
}
