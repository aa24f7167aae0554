"""WSGI ingest (sync redis-py + hiredis): for gunicorn -k gevent (monkey-patched) or gthread."""
import os, redis
from ingest_common import LUA, admission, answer
r = redis.Redis(host="127.0.0.1", port=int(os.environ.get("RPORT", "16399")), max_connections=256)
script = r.register_script(LUA)

def app(environ, start_response):
    n = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(n)) if n and n.isdigit() else b""
    headers = [[k[5:].replace("_", "-").title(), v] for k, v in environ.items() if k.startswith("HTTP_")]
    path, _, query = (environ.get("RAW_URI") or environ["PATH_INFO"]).partition("?")
    job_id, keys, args = admission(environ["REQUEST_METHOD"], path, query, headers, body)
    reply = script(keys=keys, args=args)
    out = answer(job_id)
    start_response("202 Accepted" if reply[0] == b"queued" else "409 Conflict", [("Content-Type", "application/json"), ("Content-Length", str(len(out))), ("X-Sidecar-Job-Id", job_id)])
    return [out]
