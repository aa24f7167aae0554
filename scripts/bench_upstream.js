// A fast stand-in for n8n, used by scripts/bench_queue.py (node scripts/bench_upstream.js PORT).
//
// Answers every request 200 {"message":"Workflow was started"} with keep-alive, on 127.0.0.1,
// and counts the deliveries it saw:
//   GET  /__bench/stats  ->  {"count": N, "firstMs": t, "lastMs": t}  (performance.now() times)
//   POST /__bench/reset  ->  zeroes the counters
'use strict';

const http = require('http');
const { performance } = require('perf_hooks');

const port = Number(process.argv[2]);
const ANSWER = Buffer.from('{"message":"Workflow was started"}');
let count = 0;
let firstMs = 0;
let lastMs = 0;

function reply(res, body) {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

function control(req, res) {
  req.resume();
  if (req.url === '/__bench/reset') {
    count = 0;
    firstMs = 0;
    lastMs = 0;
  }
  reply(res, Buffer.from(JSON.stringify({ count, firstMs, lastMs })));
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/__bench/')) {
    control(req, res);
    return;
  }
  req.on('data', () => {});
  req.on('end', () => {
    const now = performance.now();
    if (count === 0) firstMs = now;
    count += 1;
    lastMs = now;
    reply(res, ANSWER);
  });
});

server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
