"""CapturedRequest: a webhook exactly as the sender made it, ready to forward or to store.

The path and query are taken raw from the WSGI environment (gunicorn's RAW_URI, werkzeug's
REQUEST_URI), so percent-encoding and odd characters reach n8n unchanged. The path route rules
are matched on is derived from it once, here (sidecar/route_path.py: refused with 400 bad_path
when n8n could resolve it ambiguously), and travels with the request. Hop-by-hop headers
are dropped and X-Forwarded-For/-Proto/-Host added once, at capture time, so a worker
replaying the request later sends what the gateway would have sent.

Senders cannot speak for the sidecar: their `X-Sidecar-*` headers are dropped, and their
`X-Forwarded-*` (and `Forwarded`) are replaced by the sidecar's own values unless the peer
is a trusted proxy (SIDECAR_TRUSTED_PROXIES), whose are kept with the peer appended.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from sidecar.errors import PayloadTooLarge
from sidecar.route_path import canonical_path

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Recomputed by the HTTP client for the forwarded request.
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
SIDECAR_PREFIX = "x-sidecar-"  # the sidecar's own headers: never taken from a sender
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CapturedRequest:
    """A received webhook: method, raw path and query, end-to-end headers, body bytes.

    `route_path` is the canonical path route rules match (set by `capture`; None for a
    request built otherwise, e.g. a stored job being replayed, which is never re-matched).
    """

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float = field(default_factory=time.time)
    route_path: str | None = None

    def resolved_path(self) -> str:
        """The canonical path (the one capture computed, else computed now; BadPath)."""
        if self.route_path is not None:
            return self.route_path
        return canonical_path(self.path)

    @property
    def target(self) -> str:
        """Path plus query string, as it goes on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def to_payload(self) -> dict[str, object]:
        """JSON-safe form for storing in a job (body as base64)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "body": base64.b64encode(self.body).decode("ascii"),
            "receivedAt": self.received_at,
        }

    @classmethod
    def from_payload(cls, data: dict) -> CapturedRequest:
        """Rebuild a request stored with `to_payload`."""
        return cls(
            method=data["method"],
            path=data["path"],
            query=data.get("query", ""),
            headers=[(str(k), str(v)) for k, v in data.get("headers", [])],
            body=base64.b64decode(data.get("body", "")),
            received_at=float(data.get("receivedAt", 0.0)),
        )


def raw_target(environ: dict) -> tuple[str, str]:
    """The request path and query string exactly as they were on the request line."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        path, _, query = raw.partition("?")
        return path, query
    script = environ.get("SCRIPT_NAME", "")
    path = quote(script + environ.get("PATH_INFO", ""), safe="/%:@!$&'()*+,;=-._~")
    return path, environ.get("QUERY_STRING", "")


def end_to_end_headers(environ: dict) -> list[tuple[str, str]]:
    """The request headers minus hop-by-hop ones (and those named in Connection), and minus
    any `X-Sidecar-*`: only the sidecar sets those (job id, attempt, operation)."""
    pairs = [
        (key[5:].replace("_", "-").title(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        pairs.append(("Content-Type", environ["CONTENT_TYPE"]))
    named = {
        token.strip().lower()
        for key, value in pairs
        if key.lower() == "connection"
        for token in value.split(",")
    }
    dropped = NOT_FORWARDED | named
    return [
        (k, v)
        for k, v in pairs
        if k.lower() not in dropped and not k.lower().startswith(SIDECAR_PREFIX)
    ]


def forwarded_headers(
    environ: dict, headers: list[tuple[str, str]], trusted_proxies: Sequence[Network] = ()
) -> list[tuple[str, str]]:
    """`headers` with the sidecar's X-Forwarded-For/-Proto/-Host. From a peer in
    `trusted_proxies` the sender's X-Forwarded-* are kept, the peer appended to
    X-Forwarded-For, -Proto/-Host set when absent; from any other peer the sender's
    X-Forwarded-* and Forwarded are dropped and the sidecar's own values sent instead."""
    client = environ.get("REMOTE_ADDR", "")
    if not peer_is_trusted(client, trusted_proxies):
        headers = [(k, v) for k, v in headers if not _spoofable(k)]
    present = {k.lower(): i for i, (k, _) in enumerate(headers)}
    result = list(headers)
    if "x-forwarded-for" in present:
        index = present["x-forwarded-for"]
        result[index] = (result[index][0], f"{result[index][1]}, {client}")
    elif client:
        result.append(("X-Forwarded-For", client))
    if "x-forwarded-proto" not in present:
        result.append(("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")))
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    if "x-forwarded-host" not in present and host:
        result.append(("X-Forwarded-Host", host))
    return result


def peer_is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    """Whether the peer `address` (REMOTE_ADDR) lies in one of `trusted_proxies`."""
    if not trusted_proxies:
        return False
    try:
        peer = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:  # a unix socket, or no peer address at all
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped:
        peer = peer.ipv4_mapped
    return any(peer in network for network in trusted_proxies)


def _spoofable(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("x-forwarded-") or lowered == "forwarded"


def read_body(environ: dict, limit: int) -> bytes:
    """Read the whole request body, refusing more than `limit` bytes with PayloadTooLarge."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
    stream = environ["wsgi.input"]
    if declared.isdigit():
        return stream.read(int(declared))
    if not _body_is_delimited(environ):
        return b""
    body = stream.read(limit + 1)  # chunked upload: read one byte past the limit to detect it
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
    return body


def _body_is_delimited(environ: dict) -> bool:
    """True when a body without Content-Length can be read to its end (chunked upload)."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or bool(environ.get("wsgi.input_terminated"))


def scope_environ(scope: dict) -> dict:
    """The WSGI environment keys capture reads, built from an ASGI `scope` the way gunicorn
    builds them: the request target as on the request line, headers as HTTP_* (names with
    '_' dropped, repeats joined with ','), Content-Type/-Length apart, peer and scheme. The
    body is not part of it (see `capture_parts`)."""
    environ: dict = {
        "REQUEST_METHOD": scope["method"],
        "RAW_URI": scope_target(scope),
        "PATH_INFO": scope.get("path", ""),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "REMOTE_ADDR": (scope.get("client") or ("", 0))[0],
        "SERVER_NAME": (scope.get("server") or ("", 0))[0],
    }
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if "_" in name:
            continue  # gunicorn's header_map=drop: ambiguous with '-' once in the environment
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def scope_target(scope: dict) -> str:
    """The request target of an ASGI `scope` as on the request line (the gateway's protocol
    keeps it in scope["sidecar.target"]; else raw_path and query_string)."""
    target = scope.get("sidecar.target")
    if target is None:
        query = scope.get("query_string", b"")
        target = scope.get("raw_path") or scope["path"].encode()
        target += b"?" + query if query else b""
    return target.decode("latin-1")


def declared_length(environ: dict, limit: int) -> int | None:
    """The declared Content-Length (None when absent); PayloadTooLarge above `limit`."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
    return int(declared) if declared.isdigit() else None


def capture_parts(
    environ: dict, body: bytes, trusted_proxies: Sequence[Network] = ()
) -> CapturedRequest:
    """A CapturedRequest from an environment (see `scope_environ`) and a body already read."""
    path, query = raw_target(environ)
    route_path = canonical_path(path)
    headers = forwarded_headers(environ, end_to_end_headers(environ), trusted_proxies)
    return CapturedRequest(
        method=environ["REQUEST_METHOD"].upper(),
        path=path,
        query=query,
        headers=headers,
        body=body,
        route_path=route_path,
    )


def capture(
    environ: dict, max_body_bytes: int, trusted_proxies: Sequence[Network] = ()
) -> CapturedRequest:
    """Capture the WSGI request in `environ` as a CapturedRequest; BadPath for a path n8n
    could resolve ambiguously (checked before the body is read)."""
    canonical_path(raw_target(environ)[0])  # BadPath before a byte of the body is read
    return capture_parts(environ, read_body(environ, max_body_bytes), trusted_proxies)
