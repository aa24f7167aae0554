// A fast stand-in for n8n, used by the benchmark harness (node upstream.js PORT).
//
// Answers every request 200 {"message":"Workflow was started"} with keep-alive, on 127.0.0.1,
// and keeps score of the deliveries it saw. A JSON body with "seq" is counted per seq (so
// lost and duplicated webhooks show); one with "sentAt" (unix ms, the sender's clock — the
// same machine) adds a receipt-to-delivery latency sample.
//   GET  /__bench/stats      ->  {count, firstMs, lastMs, distinct, duplicates}
//   GET  /__bench/latencies  ->  {latencies: [ms, ...]}
//   POST /__bench/reset      ->  zeroes everything
//   GET  /__bench/seen       ->  {seen: [seq, ...]} every distinct seq delivered
//   POST /__bench/down?ms=N  ->  answer 503 (not counted) to deliveries for N ms: n8n down
// Keep the Python fallback (upstream.py) answering the same way.
'use strict';

const http = require('http');
const { performance } = require('perf_hooks');

const port = Number(process.argv[2]);
const ANSWER = Buffer.from('{"message":"Workflow was started"}');
let score;
let downUntil = 0;

function reset() {
  score = { count: 0, firstMs: 0, lastMs: 0, seen: new Map(), duplicates: 0, latencies: [] };
}

function reply(res, body) {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

function control(req, res) {
  req.resume();
  if (req.url === '/__bench/reset') reset();
  if (req.url.startsWith('/__bench/down')) {
    downUntil = performance.now() + Number(new URL(req.url, 'http://x').searchParams.get('ms'));
  }
  if (req.url === '/__bench/seen') {
    reply(res, Buffer.from(JSON.stringify({ seen: Array.from(score.seen.keys()) })));
    return;
  }
  const { count, firstMs, lastMs, seen, duplicates, latencies } = score;
  const body = req.url === '/__bench/latencies'
    ? { latencies }
    : { count, firstMs, lastMs, distinct: seen.size, duplicates };
  reply(res, Buffer.from(JSON.stringify(body)));
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
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/__bench/')) {
    control(req, res);
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (performance.now() < downUntil) {
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Content-Length': 4 });
      res.end('down');
      return;
    }
    note(Buffer.concat(chunks));
    reply(res, ANSWER);
  });
});

server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
