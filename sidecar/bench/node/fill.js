// Fills a BullMQ queue with COUNT webhooks numbered FIRST.. as the seed's ingest server stores
// them (sidecar/bench/seed_stack.py), then exits; prints the jobs waiting.
//   NODE_PATH=<cache>/node_modules node fill.js REDIS_PORT QUEUE COUNT FIRST PATH
'use strict';

const { Queue } = require('bullmq');

const BATCH = 1000;
const HEADERS = { 'content-type': 'application/json', 'x-user-id': '42' };

function webhook(seq, path) {
  const update = { update_id: seq, seq, sentAt: Date.now(), message: { text: 'hello', from: { id: 42 } } };
  const body = Buffer.from(JSON.stringify(update)).toString('base64');
  const data = { method: 'POST', url: path, headers: HEADERS, body, receivedAt: Date.now() };
  return { name: 'webhook', data, opts: { removeOnComplete: true } };
}

async function main() {
  const [redisPort, queueName, count, first, path] = process.argv.slice(2);
  const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: Number(redisPort) } });
  for (let start = 0; start < Number(count); start += BATCH) {
    const size = Math.min(BATCH, Number(count) - start);
    const jobs = Array.from({ length: size }, (_, i) => webhook(Number(first) + start + i, path));
    await queue.addBulk(jobs);
  }
  console.log(await queue.getWaitingCount());
  await queue.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
