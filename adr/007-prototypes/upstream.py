"""Fake n8n: /slow/* answers after 1 s, anything else at once; /sse streams 5 events 0.5 s apart."""
import asyncio, sys
from aiohttp import web

async def handle(request):
    body = await request.read()
    if request.path.startswith("/webhook/slow"):
        await asyncio.sleep(1.0)
    if request.path.startswith("/webhook/sse"):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.5)
        return resp
    return web.Response(body=b'{"ok":true}', content_type="application/json")

app = web.Application(client_max_size=16 << 20)
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), backlog=4096, access_log=None, print=None)
