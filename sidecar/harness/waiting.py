"""Waiting for a condition: polling, and the usual readiness checks of a local service."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Collection
from typing import TypeVar

from sidecar.harness.errors import HarnessError

T = TypeVar("T")
POLL_SECONDS = 0.02


def wait_until(
    check: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = POLL_SECONDS,
) -> T:
    """Poll `check` until it returns something truthy; that value. HarnessError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def listening(port: int) -> Callable[[], bool]:
    """A check that something accepts connections on 127.0.0.1:port."""

    def check() -> bool:
        """True once a TCP connection succeeds."""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    return check


def answering(
    port: int, path: str = "/healthz", statuses: Collection[int] | None = (200,)
) -> Callable[[], bool]:
    """A check that an HTTP GET of `path` on 127.0.0.1:port answers one of `statuses` (None:
    any answer). A gunicorn master accepts connections before its workers have booted."""

    def check() -> bool:
        """True once the answer has a wanted status."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return statuses is None or status in statuses

    return check
