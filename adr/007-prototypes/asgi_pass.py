"""Raw ASGI passthrough: raw_path+query from scope, body with a read deadline, aiohttp client
pool (no per-host limit), answer streamed chunk by chunk (SSE reaches the sender as it comes).
Also: /mgmt/* mounted Flask through a2wsgi; connection cap -> 503 + Retry-After."""
import asyncio, os
import aiohttp
from yarl import URL

UP = os.environ.get("UP", "http://127.0.0.1:18001")
BODY_DEADLINE = float(os.environ.get("BODY_DEADLINE", "10"))
MAX_INFLIGHT = int(os.environ.get("MAX_INFLIGHT", "4000"))
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"host", b"content-length"}
RHOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
session = None
inflight = 0

from flask import Flask
from a2wsgi import WSGIMiddleware
flask_app = Flask("mgmt")
@flask_app.get("/mgmt/hello")
def hello():
    return {"hello": "flask", "via": "a2wsgi"}
mgmt = WSGIMiddleware(flask_app, workers=4)

async def read_body(receive):
    chunks = []
    async with asyncio.timeout(BODY_DEADLINE):
        while True:
            m = await receive()
            if m["type"] == "http.disconnect":
                raise ConnectionError("sender left")
            chunks.append(m.get("body", b""))
            if not m.get("more_body"):
                return b"".join(chunks)

async def app(scope, receive, send):
    global session, inflight
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
                                                auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"))
                await send({"type": "lifespan.startup.complete"})
            elif m["type"] == "lifespan.shutdown":
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"].startswith("/mgmt/"):
        return await mgmt(scope, receive, send)
    if inflight >= MAX_INFLIGHT:
        await send({"type": "http.response.start", "status": 503, "headers": [(b"retry-after", b"5"), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"error":"overloaded"}'})
        return
    inflight += 1
    try:
        try:
            body = await read_body(receive)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 408, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b""})
            return
        target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in HOP]
        url = URL(UP + target.decode("latin-1"), encoded=True)
        async with session.request(scope["method"], url, data=body or None, headers=headers,
                                   allow_redirects=False, timeout=aiohttp.ClientTimeout(total=None, sock_read=120)) as r:
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in r.raw_headers and [(a.decode("latin-1"), b.decode("latin-1")) for a, b in r.raw_headers] if k.lower() not in RHOP]
            await send({"type": "http.response.start", "status": r.status, "headers": out})
            async for chunk in r.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    finally:
        inflight -= 1
