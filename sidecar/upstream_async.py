"""The n8n client of the event loop (ADR-007): passthrough without a thread per wait.

`AsyncUpstream.send(captured)` replays a CapturedRequest against n8n over pooled keep-alive
connections (sidecar/upstream_wire.py) and returns n8n's answer un-decoded, its body to be
read whole or streamed chunk by chunk as it arrives. What n8n sees is what `Upstream`
(sidecar/upstream.py, the sync client of the workers) sends: the target byte for byte
(never re-quoted; a target that cannot go on a request line as is is percent-encoded, byte
by byte), `Host` of N8N_URL, the sender's end-to-end headers with nothing added but
`Content-Length` when there is a body, the body as bytes. Nothing is kept between requests
but the connections: no cookies, no redirects followed.

Errors are split as `Upstream` splits them, by whether n8n can have received the request:

* UpstreamNotReached — the connection could not be made (refused, DNS, TLS, connect
  timeout), or it broke before the request was written in full (a reset in the middle of a
  large body, a pooled connection n8n had closed): n8n cannot have it, so the gateway may
  queue it, as the sync client's RequestNotWritten allows (sidecar/upstream_conn.py);
* UpstreamTimeout — no answer (or no next byte of it) within the read timeout;
* UpstreamFailedAfterSend — anything else after the request was written: n8n may have it
  and run it, so it is never sent twice.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from sidecar.capture import HOP_BY_HOP, CapturedRequest
from sidecar.errors import (
    BadRequest,
    UpstreamError,
    UpstreamFailedAfterSend,
    UpstreamNotReached,
    UpstreamTimeout,
)
from sidecar.redact import redact, redact_url
from sidecar.upstream_conn import sendable_as_is
from sidecar.upstream_wire import WireBroken, WireConnection, WireTimeout

CONNECT_TIMEOUT_SECONDS = 5.0
IDLE_SECONDS = 4.0  # a pooled connection idle longer is closed (Node's keep-alive is 5 s)
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))


@dataclass
class AsyncUpstreamResponse:
    """n8n's answer: status, end-to-end headers (raw bytes pairs, Content-Length kept when n8n
    sent one), the body still on its connection, the time to the answer's head (ASGI carries
    no reason phrase, so none is kept)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    connection: WireConnection
    pool: ConnectionPool
    elapsed: float

    async def iter_body(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives (no decompression), then free the connection;
        UpstreamFailedAfterSend if n8n stops in the middle or goes quiet."""
        try:
            while (chunk := await self._next_chunk()) is not None:
                yield chunk
        finally:
            self.pool.release(self.connection)

    async def read(self) -> bytes:
        """The whole body (no decompression), then free the connection;
        UpstreamFailedAfterSend if n8n stops in the middle or goes quiet."""
        return b"".join([chunk async for chunk in self.iter_body()])

    def sized_within(self, limit: int) -> bool:
        """Whether n8n declared a body of at most `limit` bytes (Content-Length, not chunked)."""
        length = answer_length(self.headers)
        return length is not None and length <= limit

    def close(self) -> None:
        """Discard the body and the connection (the pool keeps it only if it was read)."""
        self.pool.release(self.connection)

    async def _next_chunk(self) -> bytes | None:
        try:
            return await self.connection.next_chunk()
        except (WireBroken, WireTimeout) as exc:
            raise UpstreamFailedAfterSend(redact(f"n8n's answer broke off: {exc}")) from None


class ConnectionPool:
    """Keep-alive connections to one n8n (no limit on their number, as many as are in use).

    Parameters: `host`, `port`, `tls` (None for http), `read_timeout`, `connect_timeout`."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        read_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.read_timeout, self.connect_timeout = read_timeout, connect_timeout
        self.idle: deque[tuple[WireConnection, float]] = deque()

    async def acquire(self) -> tuple[WireConnection, bool]:
        """An idle connection (the one used last), or a new one; and whether it is new.
        OSError or TimeoutError when no connection can be made."""
        now = time.monotonic()
        while self.idle:
            connection, since = self.idle.pop()
            if _usable(connection, since, now):
                return connection, False
            connection.close()
        return await self._connect(), True

    def release(self, connection: WireConnection) -> None:
        """End the connection's exchange; keep it when the next one can use it. Connections
        idle too long, or closed by n8n, are let go from the other end of the pool."""
        now = time.monotonic()
        if connection.reusable:
            connection.finish()
            self.idle.append((connection, now))
        else:
            connection.close()
        while self.idle and not _usable(*self.idle[0], now):
            self.idle.popleft()[0].close()

    def close(self) -> None:
        """Close every idle connection."""
        while self.idle:
            self.idle.pop()[0].close()

    async def _connect(self) -> WireConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, connection = await loop.create_connection(
                lambda: WireConnection(loop, self.read_timeout),
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls else None,
            )
        return connection


class AsyncUpstream:
    """The loop's client for one n8n base URL, one per gateway process.

    Parameters: `base_url` (N8N_URL, may carry a path prefix), `timeout` (seconds to wait
    for n8n's answer and between two of its bytes)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.prefix = parts.path
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        port = parts.port or (443 if tls else 80)
        self.host_header = _host_header(parts.hostname or "", parts.port)
        self.read_timeout = timeout
        connect_timeout = min(CONNECT_TIMEOUT_SECONDS, timeout)
        self.pool = ConnectionPool(parts.hostname or "", port, tls, timeout, connect_timeout)

    async def close(self) -> None:
        """Close the pooled connections."""
        self.pool.close()

    async def send(self, captured: CapturedRequest) -> AsyncUpstreamResponse:
        """Replay `captured` against n8n; an UpstreamError subclass when no answer."""
        started = time.perf_counter()
        request = self.request_bytes(captured)
        head_only = captured.method == "HEAD"
        for retried in (False, True):
            connection, fresh = await self._connection()
            try:
                connection.start(request, head_only)
                await connection.head()
                break
            except (WireBroken, WireTimeout) as exc:
                connection.close()
                if not (connection.written or fresh or retried):
                    continue  # a pooled connection n8n had closed: n8n has nothing; once more
                raise self._error(exc, connection.written) from None
            except BaseException:
                connection.close()
                raise
        return AsyncUpstreamResponse(
            status=connection.status,
            headers=end_to_end(connection.headers),
            connection=connection,
            pool=self.pool,
            elapsed=time.perf_counter() - started,
        )

    def request_bytes(self, captured: CapturedRequest) -> bytes:
        """The request as it goes on the wire: request line, headers, body."""
        target = self.prefix + captured.target
        if not sendable_as_is(target):
            target = quote(target.encode("latin-1", "replace"), safe=PRINTABLE)
        lines = [f"{captured.method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in captured.headers]
        has_body = _has_body(captured)
        if has_body:
            lines.append(f"Content-Length: {len(captured.body)}")
        if any(_breaks_line(name) or _breaks_line(value) for name, value in captured.headers):
            raise BadRequest("a request header holds a line break")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        return data + captured.body if has_body else data

    async def _connection(self) -> tuple[WireConnection, bool]:
        try:
            return await self.pool.acquire()
        except TimeoutError:
            raise UpstreamNotReached(
                f"n8n is unreachable at {redact_url(self.base_url)}: no connection within "
                f"{self.pool.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise UpstreamNotReached(
                redact(f"n8n is unreachable at {redact_url(self.base_url)}: {_reason(exc)}")
            ) from None

    def _error(self, exc: Exception, written: bool) -> UpstreamError:
        where = redact_url(self.base_url)
        if not written:
            return UpstreamNotReached(
                redact(
                    f"n8n is unreachable at {where}: the connection broke before the request "
                    f"was written: {exc}"
                )
            )
        if isinstance(exc, WireTimeout):
            return UpstreamTimeout(f"n8n at {where} did not answer within {self.read_timeout:g} s")
        return UpstreamFailedAfterSend(redact(f"n8n at {where} gave no answer: {exc}"))


def _usable(connection: WireConnection, idle_since: float, now: float) -> bool:
    return connection.open and now - idle_since < IDLE_SECONDS


def _host_header(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _reason(exc: OSError) -> str:
    """The error with the system's words for its errno (e.g. "Connection refused")."""
    errno = exc.errno
    return f"{exc} ({os.strerror(errno)})" if errno else str(exc)


def _breaks_line(text: str) -> bool:
    return "\n" in text or "\r" in text


def _has_body(captured: CapturedRequest) -> bool:
    return bool(captured.body) or captured.method not in BODYLESS_METHODS


def answer_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length n8n declared (None when absent or not a number)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


def end_to_end(raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
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
