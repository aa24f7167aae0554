"""The n8n client: one pooled HTTP client for passthrough and for worker deliveries.

`Upstream.send(captured)` replays a CapturedRequest against n8n and returns n8n's answer
un-decoded (Content-Encoding kept, body streamed). `requests` errors are translated here into
UpstreamUnreachable / UpstreamTimeout, so callers handle one kind of failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from urllib3.util import SKIP_HEADER

from sidecar.capture import HOP_BY_HOP, CapturedRequest
from sidecar.errors import UpstreamTimeout, UpstreamUnreachable

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass
class UpstreamResponse:
    """n8n's answer: status, end-to-end headers, and the raw body as a stream."""

    status: int
    headers: list[tuple[str, str]]
    raw: requests.Response
    elapsed: float

    def iter_body(self) -> Iterator[bytes]:
        """Yield the body exactly as n8n sent it (no decompression), then release the socket."""
        try:
            yield from self.raw.raw.stream(CHUNK_BYTES, decode_content=False)
        finally:
            self.raw.close()

    def read(self) -> bytes:
        """The whole raw body."""
        return b"".join(self.iter_body())

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class Upstream:
    """Pooled client for one n8n base URL.

    Parameters: `base_url` (N8N_URL), `timeout` (seconds to wait for n8n's answer),
    `pool_size` (connections kept open, at least the number of concurrent callers).
    """

    def __init__(self, base_url: str, timeout: float, pool_size: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout), timeout)
        self.adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)

    def send(
        self, captured: CapturedRequest, extra_headers: dict[str, str] | None = None
    ) -> UpstreamResponse:
        """Replay `captured` against n8n; raise UpstreamUnreachable or UpstreamTimeout."""
        prepared = _prepare(self.base_url + captured.target, captured, extra_headers)
        started = time.perf_counter()
        try:
            response = self.adapter.send(prepared, stream=True, timeout=self.timeout)
        except requests.Timeout as exc:
            if isinstance(exc, requests.ConnectTimeout):
                raise UpstreamUnreachable(f"n8n did not accept a connection: {exc}") from None
            raise UpstreamTimeout(f"n8n did not answer within {self.timeout[1]:g} s") from None
        except requests.RequestException as exc:
            raise UpstreamUnreachable(f"n8n is unreachable at {self.base_url}: {exc}") from None
        return UpstreamResponse(
            status=response.status_code,
            headers=_end_to_end(response),
            raw=response,
            elapsed=time.perf_counter() - started,
        )

    def healthy(self) -> tuple[bool, str]:
        """Ask n8n's own /healthz; (ok, detail)."""
        probe = CapturedRequest("GET", "/healthz", "", [], b"")
        try:
            response = self.adapter.send(
                _prepare(self.base_url + "/healthz", probe), timeout=(2, 5)
            )
        except requests.RequestException as exc:
            return False, f"unreachable: {type(exc).__name__}"
        return response.ok, f"HTTP {response.status_code}"

    def close(self) -> None:
        """Close pooled connections."""
        self.adapter.close()


def _prepare(
    url: str, captured: CapturedRequest, extra_headers: dict[str, str] | None = None
) -> PreparedRequest:
    """A request for the adapter, built by hand: requests' prepare() would re-quote the path
    (%2e becomes .) and add headers the sender never sent."""
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for key, value in captured.headers:
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    headers.update(extra_headers or {})
    for added_by_urllib3 in ("User-Agent", "Accept-Encoding"):
        headers.setdefault(added_by_urllib3, SKIP_HEADER)  # only what the sender sent
    if captured.body or captured.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        headers["Content-Length"] = str(len(captured.body))
    prepared = PreparedRequest()
    prepared.method = captured.method
    prepared.url = url
    prepared.headers = headers
    prepared.body = captured.body or None
    prepared.hooks = {"response": []}
    prepared._cookies = None  # type: ignore[attr-defined]
    return prepared


def _end_to_end(response: requests.Response) -> list[tuple[str, str]]:
    """n8n's response headers minus hop-by-hop ones, repeated headers kept apart."""
    named = {
        token.strip().lower()
        for token in response.headers.get("Connection", "").split(",")
        if token.strip()
    }
    return [(k, v) for k, v in response.raw.headers.items() if k.lower() not in HOP_BY_HOP | named]
