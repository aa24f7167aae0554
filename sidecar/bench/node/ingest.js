// The seed's stack, ingest side, as the benchmark's baseline (sidecar/bench/seed_stack.py):
// a plain Node http server that stores each request with BullMQ's Queue.add and answers 202.
//   NODE_PATH=<cache>/node_modules node ingest.js PORT REDIS_PORT QUEUE
'use strict';

const http = require('http');
const { Queue } = require('bullmq');

const [port, redisPort, queueName] = process.argv.slice(2);
const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: Number(redisPort) } });

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    const body = Buffer.concat(chunks).toString('base64');
    const data = { method: req.method, url: req.url, headers: req.headers, body, receivedAt: Date.now() };
    const job = await queue.add('webhook', data, { removeOnComplete: true });
    const out = JSON.stringify({ status: 'queued', jobId: job.id, queue: queueName });
    res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
    res.end(out);
  });
}).listen(Number(port), '127.0.0.1');

process.on('SIGTERM', () => queue.close().finally(() => process.exit(0)));
