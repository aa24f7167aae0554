"""WSGI passthrough like today's sidecar/http/webhooks.py + upstream.py (urllib3 pool, raw body stream).
POOL env: pool size. Under gunicorn -k gevent the worker monkey-patches before import."""
import os, urllib3
UP = os.environ.get("UP", "http://127.0.0.1:18001")
POOL = int(os.environ.get("POOL", "32"))
pool = urllib3.connection_from_url(UP, maxsize=POOL, block=False, retries=False,
                                   timeout=urllib3.Timeout(connect=5, read=120))
HOP = {"connection","keep-alive","transfer-encoding","te","trailer","upgrade","host","content-length"}

def app(environ, start_response):
    raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    n = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(n)) if n and n.isdigit() else None
    headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_") and k[5:].replace("_","-").lower() not in HOP}
    r = pool.urlopen(environ["REQUEST_METHOD"], raw, body=body, headers=headers,
                     preload_content=False, decode_content=False, redirect=False)
    out = [(k, v) for k, v in r.headers.items() if k.lower() not in HOP]
    start_response(f"{r.status} {r.reason}", out)
    def it():
        try:
            yield from r.stream(65536, decode_content=False)
        finally:
            r.release_conn()
    return it()
