// The seed's stack, delivery side, as the benchmark's baseline (sidecar/bench/seed_stack.py):
// a BullMQ Worker that POSTs each job's webhook to n8n (keep-alive), CONCURRENCY at a time;
// an answer other than 2xx fails the job. Prints "ready" once connected, takes jobs from
// SIGUSR2 on (so its start-up is not measured), runs until SIGTERM.
//   NODE_PATH=<cache>/node_modules node worker.js REDIS_PORT QUEUE N8N_PORT CONCURRENCY
'use strict';

const http = require('http');
const { Worker } = require('bullmq');

const [redisPort, queueName, n8nPort, concurrency] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });

function deliver(job) {
  const { method, url, headers, body } = job.data;
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port: Number(n8nPort), path: url, method, headers, agent };
    const req = http.request(options, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`n8n answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(Buffer.from(body, 'base64'));
  });
}

const connection = { host: '127.0.0.1', port: Number(redisPort), maxRetriesPerRequest: null };
const worker = new Worker(queueName, deliver, {
  connection, concurrency: Number(concurrency), autorun: false,
});
worker.on('failed', (job, err) => console.error(`job ${job && job.id} failed: ${err.message}`));
worker.waitUntilReady().then(() => console.log('ready'));

process.on('SIGUSR2', () => worker.run());
process.on('SIGTERM', () => worker.close().finally(() => process.exit(0)));
