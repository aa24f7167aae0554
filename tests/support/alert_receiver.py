"""A real HTTP server on 127.0.0.1 that records the JSON alerts POSTed to it.

`fail_next(n, status)` makes the next n POSTs answer `status` (e.g. 500) before it accepts
again, so retries can be observed. `wait_for(count)` blocks until that many were accepted.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from sidecar.harness.ports import free_port


class _Handler(BaseHTTPRequestHandler):
    """Records each POST on the server, answering as scripted."""

    server: _Server

    def do_POST(self) -> None:
        """Read the body, record it, answer the scripted status."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        status = self.server.receiver.take(body, dict(self.headers))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: AlertReceiver


class AlertReceiver:
    """The receiver. `url` is where to POST; `accepted` the JSON bodies answered 2xx;
    `attempts` every POST (accepted or not) in arrival order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: list[dict[str, Any]] = []
        self.attempts: list[tuple[int, dict[str, Any]]] = []
        self.arrived = 0  # POSTs received, answered or still held
        self._failures: list[int] = []
        self._answering = threading.Event()
        self._answering.set()
        self._changed = threading.Condition()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """The URL alerts should be POSTed to."""
        return f"http://127.0.0.1:{self.port}/alerts"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` POSTs with `status`."""
        with self._changed:
            self._failures.extend([status] * count)

    def hold(self) -> None:
        """Answer no POST (each one waits, 60 s at most) until release()."""
        self._answering.clear()

    def release(self) -> None:
        """Answer the held POSTs and the next ones."""
        self._answering.set()

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        """Record one POST; the status to answer."""
        payload = json.loads(body or b"null")
        with self._changed:
            self.arrived += 1
            self._changed.notify_all()
        self._answering.wait(60)
        with self._changed:
            status = self._failures.pop(0) if self._failures else 200
            self.attempts.append((status, payload))
            if status < 300:
                self.accepted.append(payload)
            self._changed.notify_all()
        return status

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` alerts were accepted; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.accepted) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"got {len(self.accepted)} alerts, wanted {count}"
                self._changed.wait(remaining)
            return list(self.accepted)

    def wait_for_attempts(self, count: int, timeout: float = 20.0) -> None:
        """Wait until `count` POSTs arrived (answered or held); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.arrived < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{self.arrived} POSTs arrived, wanted {count}"
                self._changed.wait(remaining)

    def __enter__(self) -> AlertReceiver:
        """Start serving."""
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
