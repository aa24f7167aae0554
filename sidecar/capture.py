"""CapturedRequest: a webhook exactly as the sender made it, ready to forward or to store.

The path and query are taken raw from the request line (sidecar/request_head.py reads them,
and the header fields, from a WSGI environment or an ASGI scope alike), so percent-encoding
and odd characters reach n8n unchanged. The path route rules
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

from sidecar.errors import PayloadTooLarge
from sidecar.request_head import WSGI_APART, RequestHead, head_from_environ
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
APART = frozenset(WSGI_APART.values())  # fields a WSGI environment keeps apart from HTTP_*
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


def end_to_end_headers(head: RequestHead) -> list[tuple[str, str]]:
    """The request headers (names title-cased, as a WSGI server's environment gives them)
    minus hop-by-hop ones (and those named in Connection), and minus any `X-Sidecar-*`: only
    the sidecar sets those (job id, attempt, operation). Content-Type comes last."""
    fields = head.fields
    named = {token.strip().lower() for token in fields.get("connection", "").split(",")}
    dropped = NOT_FORWARDED | named | APART
    pairs = [
        (name.title(), value)
        for name, value in fields.items()
        if name not in dropped and not name.startswith(SIDECAR_PREFIX)
    ]
    content_type = fields.get("content-type")
    if content_type and "content-type" not in named:
        pairs.append(("Content-Type", content_type))
    return pairs


def forwarded_headers(
    head: RequestHead, headers: list[tuple[str, str]], trusted_proxies: Sequence[Network] = ()
) -> list[tuple[str, str]]:
    """`headers` with the sidecar's X-Forwarded-For/-Proto/-Host. From a peer in
    `trusted_proxies` the sender's X-Forwarded-* are kept, the peer appended to
    X-Forwarded-For, -Proto/-Host set when absent; from any other peer the sender's
    X-Forwarded-* and Forwarded are dropped and the sidecar's own values sent instead."""
    client = head.client
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
        result.append(("X-Forwarded-Proto", head.scheme))
    if "x-forwarded-host" not in present and head.host:
        result.append(("X-Forwarded-Host", head.host))
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


def declared_length(head: RequestHead, limit: int) -> int | None:
    """The declared Content-Length (None when absent); PayloadTooLarge above `limit`."""
    declared = head.fields.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
    return int(declared) if declared.isdigit() else None


def capture_parts(
    head: RequestHead, body: bytes, trusted_proxies: Sequence[Network] = ()
) -> CapturedRequest:
    """A CapturedRequest from a request's head (sidecar/request_head.py) and its body."""
    return CapturedRequest(
        method=head.method,
        path=head.path,
        query=head.query,
        headers=forwarded_headers(head, end_to_end_headers(head), trusted_proxies),
        body=body,
        route_path=canonical_path(head.path),
    )


def capture(
    environ: dict, max_body_bytes: int, trusted_proxies: Sequence[Network] = ()
) -> CapturedRequest:
    """Capture the WSGI request in `environ` as a CapturedRequest; BadPath for a path n8n
    could resolve ambiguously (checked before the body is read)."""
    head = head_from_environ(environ)
    canonical_path(head.path)  # BadPath before a byte of the body is read
    return capture_parts(head, read_body(environ, max_body_bytes), trusted_proxies)
