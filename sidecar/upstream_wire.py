"""One HTTP/1.1 connection to n8n on the event loop: the request written as bytes, the answer
parsed by httptools (llhttp, the parser uvicorn uses for the sender's side).

Why not aiohttp's client: with 1,000 senders waiting on slow answers, py-spy had aiohttp at
44 % of a busy gateway's CPU (request objects, cookie jar, payload registry, tracing, a
stream reader per answer); this connection does only what the gateway needs (ADR-007).

A `WireConnection` carries one exchange at a time. `start(request, head_only)` writes the
request; `head()` waits for the answer's status and headers; `next_chunk()` yields the body
until None. What it tells the caller:

* `written` — every byte of the request went to the kernel: n8n may have it;
* `reusable` — keep-alive, and the answer was read to its end: the pool may keep it;
* `WireBroken` — the connection closed or the answer is not HTTP; `WireTimeout` — no byte
  of the answer within `read_timeout` seconds (the deadline restarts with every byte).

An interim answer (100 Continue) is skipped; a body that ends with the connection (no
Content-Length, not chunked) ends when n8n closes; the answer to HEAD has no body, so the
connection is not reused after one (the parser would wait for the declared body).
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

PAUSE_BYTES = 256 * 1024  # unread body buffered before reading from n8n pauses
RESUME_BYTES = 64 * 1024
NO_BODY_STATUSES = frozenset({204, 304})


class WireBroken(Exception):
    """The connection closed, or n8n's bytes are not an HTTP answer."""


class WireTimeout(Exception):
    """No byte of the answer within the read timeout."""


class WireConnection(asyncio.Protocol):
    """Protocol of one connection to n8n. Parameters: `loop`, `read_timeout` (seconds)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop, self.read_timeout = loop, read_timeout
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.open = False
        self.written = False
        self._new_exchange(head_only=False)

    def _new_exchange(self, head_only: bool) -> None:
        self.head_only, self.idle = head_only, True
        self.status, self.headers = 0, []
        self.head_done = self.complete = self.keep_alive = self.until_close = False
        self.chunks: deque[bytes] = deque()
        self.buffered, self.paused = 0, False
        self.failure: Exception | None = None
        self.waiter: asyncio.Future | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.last_byte = 0.0

    # -- the exchange, as the caller sees it

    def start(self, request: bytes, head_only: bool) -> None:
        """Write `request` (head and body); the answer is then awaited with `head()`."""
        assert self.transport is not None and self.idle, "one exchange at a time"
        self._new_exchange(head_only)
        self.idle, self.written = False, False
        self.transport.write(request)
        self.written = self.transport.get_write_buffer_size() == 0  # else: resume_writing
        self.last_byte = self.loop.time()
        self.timer = self.loop.call_at(self.last_byte + self.read_timeout, self._deadline)

    async def head(self) -> None:
        """Wait for the answer's status and headers; WireBroken or WireTimeout."""
        while not self.head_done:
            await self._event()

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body as it arrived; None at its end."""
        while not self.chunks:
            if self.complete:
                return None
            await self._event()
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered <= RESUME_BYTES and self.transport is not None:
            self.paused, self.last_byte = False, self.loop.time()
            self.transport.resume_reading()
        return chunk

    @property
    def reusable(self) -> bool:
        """Whether the next exchange may use this connection."""
        done = self.complete and not self.chunks and self.failure is None
        return self.open and done and self.keep_alive and not self.head_only

    def finish(self) -> None:
        """End the exchange (the pool decides from `reusable` whether to keep the connection)."""
        self._stop_deadline()
        self.idle = True

    def close(self) -> None:
        """Drop the connection."""
        self.finish()
        self.open = False
        if self.transport is not None:
            self.transport.close()

    async def _event(self) -> None:
        if self.failure is not None:
            raise self.failure
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        if self.failure is not None:
            raise self.failure

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, failure: Exception) -> None:
        if self.failure is None:
            self.failure = failure
        self._stop_deadline()
        self._wake()

    def _deadline(self) -> None:
        now = self.loop.time()
        if self.paused:  # we stopped reading, not n8n sending: the wait restarts
            self.last_byte = now
        due = self.last_byte + self.read_timeout
        if now < due:
            self.timer = self.loop.call_at(due, self._deadline)
            return
        self.timer = None
        self._fail(WireTimeout(f"no answer from n8n within {self.read_timeout:g} s"))

    def _stop_deadline(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport; a write not taken whole by the kernel pauses writing."""
        self.transport, self.open = transport, True  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=0)

    def resume_writing(self) -> None:
        """The buffered rest of the request went to the kernel."""
        self.written = True

    def pause_writing(self) -> None:
        """Part of the request waits in the transport's buffer (see `written`)."""

    def data_received(self, data: bytes) -> None:
        """Feed n8n's bytes to the parser."""
        if self.idle:  # bytes nobody asked for: the connection cannot be trusted
            self.open = False
            self.transport.close()  # type: ignore[union-attr]
            return
        self.last_byte = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.open = False
            self._fail(WireBroken(f"n8n's answer is not HTTP/1.1 as expected: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        """n8n closed (or the connection broke): the end of a body read to the close, or a
        break."""
        self.open = False
        if self.head_done and self.until_close and not self.complete:
            self.complete = True
        if not self.complete:
            why = f": {exc}" if exc else ""
            self._fail(WireBroken(f"the connection to n8n closed{why}"))
        self._stop_deadline()
        self._wake()

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line of the answer."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is in; an interim answer (1xx but 101) is dropped and the next awaited."""
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []
            return
        self.status, self.head_done = status, True
        self.keep_alive = self.parser.should_keep_alive()
        self.until_close = self._body_ends_with_close(status)
        if self.head_only or status in NO_BODY_STATUSES:
            self._complete()
        self._wake()

    def on_body(self, body: bytes) -> None:
        """A piece of the body; reading pauses while too much of it is unread."""
        if self.head_only:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if not self.paused and self.buffered > PAUSE_BYTES:
            self.paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        """The end of the answer (or of an interim one)."""
        if self.head_done:
            self._complete()

    def _complete(self) -> None:
        self.complete = True
        self._stop_deadline()
        self._wake()

    def _body_ends_with_close(self, status: int) -> bool:
        if self.head_only or status in NO_BODY_STATUSES:
            return False
        framing = {name.lower() for name, _ in self.headers}
        return b"content-length" not in framing and b"transfer-encoding" not in framing
