"""Requests sent exactly as written: http.client with no client-side normalisation."""

from __future__ import annotations

import http.client


def raw_request(
    port: int, method: str, target: str, body: bytes = b"", headers: dict | None = None
) -> http.client.HTTPResponse:
    """Send `method target` to 127.0.0.1:`port` with these headers (Host only if given,
    no Accept-Encoding, Content-Length from the body); the response, its body in `.body`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = headers or {}
    conn.putrequest(method, target, skip_accept_encoding=True, skip_host="Host" in headers)
    for key, value in headers.items():
        conn.putheader(key, value)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response
