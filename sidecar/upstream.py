"""The n8n client: one pooled HTTP client for passthrough and for worker deliveries.

`Upstream.send(captured)` replays a CapturedRequest against n8n and returns n8n's answer
un-decoded (Content-Encoding kept, body streamed). It uses urllib3 directly (see ADR-002:
`requests` adds ~150 µs per call on this path and re-quotes raw paths). urllib3 errors are
translated here, by whether n8n can have received the request:

* UpstreamNotReached — it cannot: connection refused, connect timeout, DNS failure, or the
  connection failed before the request was written in full (upstream_conn.py tracks that);
* UpstreamTimeout — it did, and gave no answer within the read timeout;
* UpstreamFailedAfterSend — anything else (reset or closed after the request went out,
  or not knowable): treated as received, so the request is not sent again.

Messages carry the detail for the log (N8N_URL redacted); senders only see `public`.

The request target goes on the request line byte for byte: `urlopen` would re-encode it
(percent-escapes upper-cased, characters outside RFC 3986 escaped, a '#…' tail dropped), so
it travels past urlopen in the TARGET_HEADER pseudo-header, which the pool's connection
class (upstream_conn.py) takes out again and puts on the request line as is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError
from urllib3.util import SKIP_HEADER

from sidecar.capture import HOP_BY_HOP, CapturedRequest
from sidecar.errors import (
    UpstreamError,
    UpstreamFailedAfterSend,
    UpstreamNotReached,
    UpstreamTimeout,
)
from sidecar.redact import redact, redact_url
from sidecar.upstream_conn import (
    TARGET_HEADER,
    RequestNotWritten,
    sendable_as_is,
    use_n8n_connections,
)

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0
ADDED_BY_URLLIB3 = ("User-Agent", "Accept-Encoding")
READINESS_PATHS = ("/healthz/readiness", "/healthz")
PROBE_TIMEOUT = urllib3.Timeout(connect=2, read=5)
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


@dataclass
class UpstreamResponse:
    """n8n's answer: status, reason, end-to-end headers, and the raw body as a stream."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    raw: urllib3.BaseHTTPResponse
    elapsed: float

    def iter_body(self) -> Iterator[bytes]:
        """Yield the body exactly as n8n sent it (no decompression), then free the connection."""
        finished = False
        try:
            yield from self.raw.stream(CHUNK_BYTES, decode_content=False)
            finished = True
        finally:
            if not finished:  # half-read: the connection cannot be reused
                self.raw.close()
            self.raw.release_conn()

    def read(self) -> bytes:
        """The whole raw body."""
        return b"".join(self.iter_body())

    def close(self) -> None:
        """Discard the body and the connection."""
        self.raw.close()
        self.raw.release_conn()

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        return self.raw.headers.get(name)


class Upstream:
    """Pooled client for one n8n base URL.

    Parameters: `base_url` (N8N_URL, may carry a path prefix), `timeout` (seconds to wait for
    n8n's answer), `pool_size` (connections kept open: at least the concurrent callers).
    """

    def __init__(self, base_url: str, timeout: float, pool_size: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefix = urlsplit(self.base_url).path
        self.timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, timeout), read=timeout)
        self.pool = urllib3.connection_from_url(
            self.base_url, maxsize=pool_size, block=False, retries=False, timeout=self.timeout
        )
        use_n8n_connections(self.pool)

    def send(
        self, captured: CapturedRequest, extra_headers: dict[str, str] | None = None
    ) -> UpstreamResponse:
        """Replay `captured` against n8n; raise an UpstreamError subclass when no answer.

        The path and query go to n8n byte for byte when they are printable ASCII (always so
        for a captured webhook); anything else is percent-encoded by urllib3."""
        started = time.perf_counter()
        target = self.prefix + captured.target
        headers = request_headers(captured, extra_headers)
        if sendable_as_is(target):
            headers[TARGET_HEADER] = target
        response = self._urlopen(
            captured.method,
            target,
            body=captured.body if _has_body(captured) else None,
            headers=headers,
            preload_content=False,
            decode_content=False,
        )
        return UpstreamResponse(
            status=response.status,
            reason=response.reason or "",
            headers=end_to_end(response.headers),
            raw=response,
            elapsed=time.perf_counter() - started,
        )

    def _urlopen(self, method: str, target: str, **options: object) -> urllib3.BaseHTTPResponse:
        try:
            return self.pool.urlopen(
                method, target, redirect=False, assert_same_host=False, **options
            )
        except ReadTimeoutError:
            raise UpstreamTimeout(
                f"n8n at {redact_url(self.base_url)} did not answer within "
                f"{self.timeout.read_timeout:g} s"
            ) from None
        except (ConnectTimeoutError, RequestNotWritten) as exc:  # NewConnectionError included
            raise UpstreamNotReached(
                redact(f"n8n is unreachable at {redact_url(self.base_url)}: {exc}")
            ) from None
        except HTTPError as exc:
            raise UpstreamFailedAfterSend(
                redact(f"n8n at {redact_url(self.base_url)} gave no answer: {exc}")
            ) from None

    def healthy(self) -> tuple[bool, str]:
        """Ask n8n's own /healthz; (ok, detail)."""
        try:
            response = self._urlopen("GET", self.prefix + "/healthz", timeout=urllib3.Timeout(2, 5))
        except UpstreamError as exc:
            return False, f"unreachable: {type(exc).__name__}"
        return 200 <= response.status < 300, f"HTTP {response.status}"

    def ready(self) -> tuple[bool, str]:
        """n8n's readiness check, /healthz/readiness (/healthz for n8n versions without it,
        which answer 404); (ready, detail)."""
        detail = ""
        for path in READINESS_PATHS:
            try:
                response = self._urlopen("GET", self.prefix + path, timeout=PROBE_TIMEOUT)
            except UpstreamError as exc:
                return False, f"unreachable: {type(exc).__name__}"
            response.close()
            if response.status != 404:
                return 200 <= response.status < 300, f"{path}: HTTP {response.status}"
            detail = f"{path}: HTTP 404"
        return False, detail

    def close(self) -> None:
        """Close pooled connections."""
        self.pool.close()


def _has_body(captured: CapturedRequest) -> bool:
    return bool(captured.body) or captured.method not in BODYLESS_METHODS


def request_headers(
    captured: CapturedRequest, extra: dict[str, str] | None = None
) -> urllib3.HTTPHeaderDict:
    """The sender's headers (repeats kept), plus `extra`, and nothing urllib3 would invent."""
    headers = urllib3.HTTPHeaderDict()
    for key, value in captured.headers:
        headers.add(key, value)
    for key, value in (extra or {}).items():
        headers[key] = value
    for name in ADDED_BY_URLLIB3:
        if name not in headers:
            headers[name] = SKIP_HEADER
    return headers


def end_to_end(headers: urllib3.HTTPHeaderDict) -> list[tuple[str, str]]:
    """n8n's response headers minus hop-by-hop ones, repeated headers kept apart."""
    named = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP | named]
