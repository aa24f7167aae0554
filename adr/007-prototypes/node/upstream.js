// Fake n8n in Node (cheaper on CPU than aiohttp): /webhook/slow* after 1 s, /webhook/sse* streams, else at once.
const http = require('http');
http.createServer((req, res) => {
  const chunks = []; req.on('data', c => chunks.push(c));
  req.on('end', () => {
    if (req.url.startsWith('/webhook/sse')) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' }); let i = 0;
      const t = setInterval(() => { res.write(`data: ${i}\n\n`); if (++i === 5) { clearInterval(t); res.end(); } }, 500); return;
    }
    const send = () => { res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 11 }); res.end('{"ok":true}'); };
    if (req.url.startsWith('/webhook/echo')) { res.writeHead(200, {'Content-Type': 'text/plain'}); return res.end(req.method + ' ' + req.url + ' body=' + Buffer.concat(chunks).length); }
    if (req.url.startsWith('/webhook/slow')) setTimeout(send, 1000); else send();
  });
}).listen(+process.argv[2], '127.0.0.1', 4096);
