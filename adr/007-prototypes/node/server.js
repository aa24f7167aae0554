// Seed-stack baseline: plain Node http server + BullMQ Queue.add per webhook, 202.
const http = require('http');
const { Queue } = require('bullmq');
const q = new Queue('webhooks', { connection: { host: '127.0.0.1', port: +process.env.RPORT || 16399 } });
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', c => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const job = await q.add('webhook', { method: req.method, url: req.url, headers: req.headers, body: body.toString('base64'), receivedAt: Date.now() },
                            { removeOnComplete: true });
    const out = JSON.stringify({ status: 'queued', jobId: job.id, queue: 'webhooks' });
    res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
    res.end(out);
  });
}).listen(+process.argv[2], '127.0.0.1');
