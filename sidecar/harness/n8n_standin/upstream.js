// The fast n8n stand-in of the benchmark (node upstream.js PORT).
//
// Answers every request 200 {"message":"Workflow was started"} with keep-alive, on 127.0.0.1,
// and keeps score of the deliveries it saw. A JSON body with "seq" is counted per seq (so
// lost and duplicated webhooks show); one with "sentAt" (unix ms, the sender's clock — the
// same machine) adds a receipt-to-delivery latency sample.
//   GET  /__bench/stats      ->  {count, firstMs, lastMs, distinct, duplicates}
//   GET  /__bench/latencies  ->  {latencies: [ms, ...]}
//   POST /__bench/reset      ->  zeroes everything (not the capacity)
//   GET  /__bench/seen       ->  {seen: [seq, ...]} every distinct seq delivered
//   POST /__bench/capacity?k=K&base=MS&max=M  ->  an n8n with a capacity: each answer takes
//        MS ms while at most K requests are in flight, MS x (in-flight / K)^2 beyond (an
//        overloaded n8n thrashes: beyond K, more in flight gets less done), and is a 503
//        beyond M in flight (k=0: back to instant answers)
//   GET  /__bench/answers    ->  {answers: [ms per answer], inflight: [in flight at each
//        arrival], status5xx}
//   POST /__bench/down?ms=N  ->  stops listening (refused connections; open ones are cut)
//        for N ms, then listens again, score kept
// A webhook whose path starts /webhook/slow is answered after 1 s (an n8n workflow that
// responds when its last node finishes), counted like any other.
// Keep the Python fallback (score.py, run by __main__.py) answering the same way.
'use strict';

const http = require('http');
const { performance } = require('perf_hooks');

const port = Number(process.argv[2]);
const ANSWER = Buffer.from('{"message":"Workflow was started"}');
const SLOW_PREFIX = '/webhook/slow';
const SLOW_MS = 1000;
let score;
let capacity = { k: 0, base: 0, max: 0 };
let inflight = 0;
let server;
const sockets = new Set();

function reset() {
  score = { count: 0, firstMs: 0, lastMs: 0, seen: new Map(), duplicates: 0, latencies: [],
            answers: [], inflight: [], status5xx: 0 };
}

function reply(res, body) {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

function goDown(ms) {
  server.close();
  for (const socket of sockets) socket.destroy();
  setTimeout(listen, ms);
}

function control(req, res) {
  req.resume();
  const url = new URL(req.url, 'http://x');
  const arg = (name) => Number(url.searchParams.get(name) || 0);
  if (url.pathname === '/__bench/reset') reset();
  if (url.pathname === '/__bench/seen') {
    reply(res, Buffer.from(JSON.stringify({ seen: Array.from(score.seen.keys()) })));
    return;
  }
  if (url.pathname === '/__bench/capacity') {
    capacity = { k: arg('k'), base: arg('base'), max: arg('max') };
  }
  const { count, firstMs, lastMs, seen, duplicates, latencies } = score;
  let body = { count, firstMs, lastMs, distinct: seen.size, duplicates, status5xx: score.status5xx };
  if (url.pathname === '/__bench/latencies') body = { latencies };
  if (url.pathname === '/__bench/answers') {
    body = { answers: score.answers, inflight: score.inflight, status5xx: score.status5xx };
  }
  if (url.pathname === '/__bench/down') {
    res.setHeader('Connection', 'close');
    res.on('finish', () => goDown(arg('ms')));
  }
  reply(res, Buffer.from(JSON.stringify(body)));
}

function answerWithCapacity(res, body) {
  inflight += 1;
  score.inflight.push(inflight);
  const started = performance.now();
  const finish = (status, answer) => {
    inflight -= 1;
    score.answers.push(performance.now() - started);
    if (status === 200) note(body); else score.status5xx += 1;
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': answer.length });
    res.end(answer);
  };
  if (capacity.max && inflight > capacity.max) {
    finish(503, Buffer.from('{"message":"overloaded"}'));
    return;
  }
  const delay = capacity.base * Math.max(1, (inflight / capacity.k) ** 2);
  setTimeout(() => finish(200, ANSWER), delay);
}

function note(body) {
  const now = performance.now();
  if (score.count === 0) score.firstMs = now;
  score.count += 1;
  score.lastMs = now;
  if (body.length === 0 || body.length > 4096 || body[0] !== 0x7b) return;
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    return;
  }
  if (parsed.seq !== undefined) {
    const times = (score.seen.get(parsed.seq) || 0) + 1;
    score.seen.set(parsed.seq, times);
    if (times > 1) score.duplicates += 1;
  }
  if (typeof parsed.sentAt === 'number') {
    score.latencies.push(performance.timeOrigin + now - parsed.sentAt);
  }
}

reset();
server = http.createServer((req, res) => {
  if (req.url.startsWith('/__bench/')) {
    control(req, res);
    return;
  }
  if (req.url.startsWith('/healthz')) {  // the workers' readiness probe: not a delivery
    req.resume();
    reply(res, Buffer.from('{"status":"ok"}'));
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (capacity.k) {
      answerWithCapacity(res, Buffer.concat(chunks));
      return;
    }
    note(Buffer.concat(chunks));
    if (req.url.startsWith(SLOW_PREFIX)) {
      setTimeout(() => reply(res, ANSWER), SLOW_MS);
      return;
    }
    reply(res, ANSWER);
  });
});

server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});
function listen() {
  server.listen(port, '127.0.0.1');
}
listen();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
