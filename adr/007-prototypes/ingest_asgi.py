"""Raw ASGI ingest: capture from scope, one EVALSHA (redis.asyncio + hiredis), 202."""
import os, redis.asyncio as aredis
from ingest_common import LUA, admission, answer
r = aredis.Redis(host="127.0.0.1", port=int(os.environ.get("RPORT", "16399")), max_connections=256)
script = r.register_script(LUA)

async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                m = await receive()
                await send({"type": m["type"] + ".complete"})
                if m["type"] == "lifespan.shutdown": return
        return
    chunks = []
    while True:
        m = await receive(); chunks.append(m.get("body", b""))
        if not m.get("more_body"): break
    headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    job_id, keys, args = admission(scope["method"], scope["raw_path"].decode("latin-1"), scope["query_string"].decode("latin-1"), headers, b"".join(chunks))
    reply = await script(keys=keys, args=args)
    status = 202 if reply[0] == b"queued" else 409
    body = answer(job_id)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"x-sidecar-job-id", job_id.encode())]})
    await send({"type": "http.response.body", "body": body})
