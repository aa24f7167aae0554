"""The n8n client of the event loop (ADR-007): passthrough without a thread per wait.

`AsyncUpstream.send(captured)` replays a CapturedRequest against n8n on aiohttp and returns
n8n's answer un-decoded, its body to be streamed chunk by chunk as it arrives. What n8n sees
is what `Upstream` (sidecar/upstream.py, the sync client of the workers) sends: the target
byte for byte (`URL(..., encoded=True)`: never re-quoted), the sender's headers with
nothing added (no User-Agent, Accept, Accept-Encoding or Content-Type of aiohttp's own), the
body as bytes.

Errors are split as `Upstream` splits them, by whether n8n can have received the request:

* UpstreamNotReached — the connection could not be made (refused, DNS, connect timeout);
* UpstreamTimeout — no answer (or no next byte of it) within the read timeout;
* UpstreamNotReached as well — the connection broke before the request was written in full
  (aiohttp's UploadTracker says so: a reset in the middle of a large body, a pooled
  connection n8n had closed): n8n cannot have it, so the gateway may queue it, as the sync
  client's RequestNotWritten allows (sidecar/upstream_conn.py);
* UpstreamFailedAfterSend — anything else after the request was written: n8n may have it
  and run it, so it is never sent twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from sidecar.capture import HOP_BY_HOP, CapturedRequest
from sidecar.errors import (
    UpstreamFailedAfterSend,
    UpstreamNotReached,
    UpstreamTimeout,
)
from sidecar.redact import redact, redact_url

CONNECT_TIMEOUT_SECONDS = 5.0
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
# Headers aiohttp would add on its own: skipped unless the sender sent them.
AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass
class AsyncUpstreamResponse:
    """n8n's answer: status, reason, end-to-end headers (raw bytes pairs, Content-Length kept
    when n8n sent one), the raw body as a stream, and the time to the answer's head."""

    status: int
    reason: str
    headers: list[tuple[bytes, bytes]]
    raw: aiohttp.ClientResponse
    elapsed: float
    read_timeout: float

    async def iter_body(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives (no decompression), then free the connection;
        UpstreamFailedAfterSend/UpstreamTimeout if n8n stops in the middle."""
        try:
            async for chunk in self.raw.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamFailedAfterSend(redact(f"n8n's answer broke off: {exc!r}")) from None
        finally:
            self.raw.release()

    async def read(self) -> bytes:
        """The whole body (no decompression), then free the connection;
        UpstreamFailedAfterSend if n8n stops in the middle."""
        try:
            return await self.raw.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamFailedAfterSend(redact(f"n8n's answer broke off: {exc!r}")) from None
        finally:
            self.raw.release()

    def sized_within(self, limit: int) -> bool:
        """Whether n8n declared a body of at most `limit` bytes (Content-Length, not chunked)."""
        length = self.raw.content_length
        return length is not None and length <= limit

    def close(self) -> None:
        """Discard the body and the connection."""
        self.raw.close()


class AsyncUpstream:
    """aiohttp client for one n8n base URL, one per gateway process (made in the loop).

    Parameters: `base_url` (N8N_URL, may carry a path prefix), `timeout` (seconds to wait
    for n8n's answer and between two of its bytes)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefix = urlsplit(self.base_url).path
        self.origin = URL(self.base_url[: len(self.base_url) - len(self.prefix)])
        self.read_timeout = timeout
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(CONNECT_TIMEOUT_SECONDS, timeout), sock_read=timeout
        )
        self.session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        """Make the session (inside the running loop)."""
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=AUTO_HEADERS,
            timeout=self.timeout,
        )

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        if self.session is not None:
            await self.session.close()

    async def send(self, captured: CapturedRequest) -> AsyncUpstreamResponse:
        """Replay `captured` against n8n; an UpstreamError subclass when no answer."""
        assert self.session is not None, "open() first"
        started = time.perf_counter()
        url = self.url_for(captured)
        body = captured.body if _has_body(captured) else None
        upload = aiohttp.UploadTracker()
        try:
            raw = await self.session.request(
                captured.method,
                url,
                data=body,
                headers=captured.headers,
                allow_redirects=False,
                compress=None,
                upload_tracker=upload,
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise UpstreamNotReached(
                redact(f"n8n is unreachable at {redact_url(self.base_url)}: {_reason(exc)}")
            ) from None
        except (TimeoutError, aiohttp.SocketTimeoutError):
            raise UpstreamTimeout(
                f"n8n at {redact_url(self.base_url)} did not answer within {self.read_timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            if not written_in_full(upload):
                raise UpstreamNotReached(
                    redact(
                        f"n8n is unreachable at {redact_url(self.base_url)}: the connection "
                        f"broke before the request was written: {exc!r}"
                    )
                ) from None
            raise UpstreamFailedAfterSend(
                redact(f"n8n at {redact_url(self.base_url)} gave no answer: {exc!r}")
            ) from None
        return AsyncUpstreamResponse(
            status=raw.status,
            reason=raw.reason or "",
            headers=end_to_end(raw.raw_headers),
            raw=raw,
            elapsed=time.perf_counter() - started,
            read_timeout=self.read_timeout,
        )

    def url_for(self, captured: CapturedRequest) -> URL:
        """The URL whose request target is `prefix + path?query` byte for byte (built from
        parts, encoded: never re-quoted, and a '#' stays part of the target)."""
        origin = self.origin
        return URL.build(
            scheme=origin.scheme,
            host=origin.raw_host or "",
            port=origin.explicit_port,
            path=self.prefix + captured.path,
            query_string=captured.query,
            encoded=True,
        )


def written_in_full(upload: aiohttp.UploadTracker) -> bool:
    """Whether the request, body included, went out in full (to the kernel: n8n may have it)."""
    done = upload.upload_complete
    return done.done() and not done.cancelled() and done.exception() is None


def _reason(exc: Exception) -> str:
    """The error with the system's words for its errno (e.g. "Connection refused")."""
    errno = getattr(exc, "errno", None)
    return f"{exc} ({os.strerror(errno)})" if errno else str(exc)


def _has_body(captured: CapturedRequest) -> bool:
    return bool(captured.body) or captured.method not in BODYLESS_METHODS


def end_to_end(raw_headers: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    """n8n's response headers minus hop-by-hop ones (and those its Connection names);
    Content-Length kept only when the answer is not chunked."""
    named = {
        token.strip().lower()
        for key, value in raw_headers
        if key.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    dropped = HOP_BY_HOP | named
    return [(k, v) for k, v in raw_headers if k.decode("latin-1").lower() not in dropped]
