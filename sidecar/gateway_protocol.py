"""The gateway's HTTP connections (ADR-007): uvicorn's httptools protocol with a header read
deadline and a cap on open connections, and the gunicorn worker that serves the ASGI app
with it on uvloop.

uvicorn has no header read deadline (its keep-alive timeout only covers the idle gap between
requests; httptools parses whatever trickles in for ever), so the protocol arms one when a
connection opens and when the first bytes of a next request arrive, cancels it when the
headers are complete, and on expiry answers 408 and closes. Its connection cap is counted
here too, at connect: beyond SIDECAR_MAX_CONNECTIONS the connection gets 503 JSON with
Retry-After and is closed (uvicorn's own limit_concurrency answers a bare 503 and only once
the headers arrived, so tricklers would hold their places).

Every write of a connection goes through CoalescedWrites (sidecar/coalesced_writes.py): an
answer's head and body leave in one write instead of two.

The protocol also keeps the request target exactly as it was on the request line in
scope["sidecar.target"] (uvicorn's raw_path drops a '#…' tail), which capture.py reads.

uvicorn's HttpToolsProtocol is not a public API: uvicorn is pinned in pyproject.toml and
tests/test_gateway_deadlines.py covers what is overridden here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from sidecar.coalesced_writes import CoalescedWrites

RETRY_AFTER_SECONDS = 5
PARENT_CHECK_SECONDS = 0.5  # a worker checks its master is alive (uvicorn ticks once a second)


def _answer(status: str, error: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": error, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
    )
    return head.encode() + body


MALFORMED = _answer("400 Bad Request", "bad_request", "the request is not valid HTTP/1.1")
TOO_SLOW = _answer("408 Request Timeout", "request_timeout", "the request headers came too slowly")
TOO_MANY = _answer(
    "503 Service Unavailable",
    "service_unavailable",
    "too many open connections; retry later",
    f"retry-after: {RETRY_AFTER_SECONDS}\r\n",
)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """httptools protocol with `header_timeout` (seconds) and `max_connections` (per
    process); see the module docstring. Bound to settings by `deadline_protocol`."""

    header_timeout: float = 10.0
    max_connections: int = 2000
    _header_timer: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection; over the cap answer 503 and close, else arm the deadline
        and write through CoalescedWrites from now on."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refused = True
            transport.write(TOO_MANY)
            transport.close()
            return
        self.transport = CoalescedWrites(transport, self.loop)  # type: ignore[assignment]
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Arm the deadline at the first bytes of a request after the previous one."""
        if self._refused:
            return
        if self.cycle is None or self.cycle.response_complete:
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """Headers in: cancel the deadline, keep the raw target."""
        self._disarm()
        self.scope["sidecar.target"] = self.url  # type: ignore[typeddict-unknown-key]
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def send_400_response(self, msg: str) -> None:
        """HTTP that httptools cannot parse: SPEC §5 JSON (uvicorn's own answer is text)."""
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(MALFORMED)
            self.transport.close()

    def _expired(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (its headers came in time)
        if not self.transport.is_closing():
            self.transport.write(TOO_SLOW)
            self.transport.close()


def deadline_protocol(header_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """The protocol class with these limits."""
    limits = {"header_timeout": header_timeout, "max_connections": max_connections}
    return type("GatewayHttpProtocol", (DeadlineHttpToolsProtocol,), limits)


class GatewayWorker(UvicornWorker):
    """gunicorn worker: the ASGI app on uvloop with the deadline protocol; the limits come
    from the application's settings (sidecar/server.py's GatewayServer)."""

    CONFIG_KWARGS: ClassVar[dict[str, object]] = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,  # X-Forwarded-* are capture.py's business (trusted proxies)
        "server_header": False,
        "date_header": False,
    }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        settings = self.app.settings  # type: ignore[attr-defined]
        self.config.http = deadline_protocol(
            settings.header_timeout_seconds, settings.max_connections
        )
        self.config.timeout_graceful_shutdown = int(settings.shutdown_grace_seconds)
        self.config.timeout_notify = PARENT_CHECK_SECONDS
        self._orphaned = False

    async def callback_notify(self) -> None:
        """Heartbeat for gunicorn, and a graceful exit once the master is gone.

        A master killed by SIGKILL (the OOM killer, `kill -9`) cannot stop its workers, and
        uvicorn's worker never looks: the orphan would keep the port, keep answering and keep
        polling n8n's health. gunicorn's own sync worker makes the same parent check."""
        if not self._orphaned and os.getppid() != self.ppid:
            self._orphaned = True
            self.log.warning("gunicorn master %s is gone: this worker shuts down", self.ppid)
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
        self.notify()
