"""How n8n resolves a raw request path to a production webhook name, written from n8n's source
independently of the sidecar's canonicaliser, so tests can check one against the other.

n8n registers `app.all('/webhook/*path', …)` on Express 5. Express takes the pathname of the
raw target (parseurl: up to '?'; with a '#' it falls back to url.parse, which drops the
fragment and turns backslashes into slashes), matches it case-insensitively against
`^/webhook/([\\s\\S]+)(?:/$)?$`, splits the capture on '/' and decodeURIComponent()s each
piece (a malformed escape or invalid UTF-8 is a 400, no webhook). n8n joins the pieces with
'/' (webhook-request-handler.ts) and drops one trailing slash (live-webhooks.ts findWebhook)
before its case-sensitive lookup.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

WEBHOOK_ROUTE = re.compile(r"/webhook/([\s\S]+)", re.IGNORECASE)
MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def n8n_webhook_name(target: str) -> str | None:
    """The production webhook name n8n looks up for request target `target`; None when n8n
    routes it to no production webhook at all (another route, or a 400)."""
    pathname = target.split("?", 1)[0]
    if "#" in pathname:
        pathname = pathname.split("#", 1)[0].replace("\\", "/")
    match = WEBHOOK_ROUTE.fullmatch(pathname)
    if match is None:
        return None
    pieces = [decode_uri_component(piece) for piece in match.group(1).split("/")]
    if None in pieces:
        return None
    name = "/".join(pieces)  # type: ignore[arg-type]
    return name[:-1] if name.endswith("/") else name


def decode_uri_component(text: str) -> str | None:
    """JavaScript's decodeURIComponent; None where it throws URIError."""
    if MALFORMED_ESCAPE.search(text):
        return None
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return None
