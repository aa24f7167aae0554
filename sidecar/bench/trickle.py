"""Connections that trickle a request one byte a second (the slow-senders scenario): half
their headers, half their body (after complete headers announcing a large Content-Length).
Each stops after `seconds`; what counts is whether the server closed it first, and when."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from dataclasses import dataclass, field

from sidecar.bench.crowd import HOST

KINDS = ("headers", "body")
BODY_LENGTH = 100_000
OPEN_BATCH = 100  # connections opened at once, then a short pause
OPEN_PAUSE = 0.05
DRIP_SECONDS = 1.0


def opening(kind: str, port: int) -> tuple[bytes, bytes]:
    """What a trickler sends at once, and what it then drips byte by byte."""
    head = f"POST /webhook/bench HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if kind == "headers":
        return head.encode(), b"X-Slow: " + b"a" * BODY_LENGTH
    head += f"Content-Type: application/json\r\nContent-Length: {BODY_LENGTH}\r\n\r\n"
    return head.encode(), b"a" * BODY_LENGTH


@dataclass
class KindFigures:
    """One kind of trickler: opened, closed by the server (seconds after opening each),
    connections refused."""

    opened: int = 0
    closed_after: list[float] = field(default_factory=list)
    refused: int = 0

    def summary(self) -> dict:
        """Counts and the median time to the server's close."""
        closed = self.closed_after
        return {
            "opened": self.opened,
            "closed_by_server": len(closed),
            "median_close_s": statistics.median(closed) if closed else None,
            "refused": self.refused,
        }


async def server_closed(reader: asyncio.StreamReader, wait: float) -> bool:
    """True when the server answered (a 408, say) or closed within `wait` seconds."""
    try:
        await asyncio.wait_for(reader.read(1024), wait)
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


async def trickler(kind: str, port: int, until: float, figures: KindFigures) -> None:
    """One connection: send the opening, then a byte a second until `until` or a close."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        figures.refused += 1
        return
    figures.opened += 1
    first, drip = opening(kind, port)
    try:
        writer.write(first)
        for byte in drip:
            if time.monotonic() >= until:
                return
            writer.write(bytes([byte]))
            await writer.drain()
            if await server_closed(reader, min(DRIP_SECONDS, max(0.0, until - time.monotonic()))):
                figures.closed_after.append(time.monotonic() - started)
                return
    except OSError:
        figures.closed_after.append(time.monotonic() - started)
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def trickle(port: int, per_kind: int, seconds: float) -> dict[str, KindFigures]:
    """`per_kind` tricklers of each kind for `seconds`, opened in batches."""
    figures = {kind: KindFigures() for kind in KINDS}
    until = time.monotonic() + seconds
    tasks = []
    for index in range(per_kind):
        for kind in KINDS:
            tasks.append(asyncio.create_task(trickler(kind, port, until, figures[kind])))
        if index % (OPEN_BATCH // 2) == OPEN_BATCH // 2 - 1:
            await asyncio.sleep(OPEN_PAUSE)
    await asyncio.gather(*tasks)
    return figures


class Trickle:
    """A trickle run in a thread of its own: `start()`, then `join()` for its figures."""

    def __init__(self, port: int, per_kind: int, seconds: float) -> None:
        self.args = (port, per_kind, seconds)
        self.figures: dict[str, KindFigures] = {}
        self.thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def _run(self) -> None:
        self.figures = asyncio.run(trickle(*self.args))

    def start(self) -> Trickle:
        """Open the connections (in the background)."""
        self.thread.start()
        return self

    def join(self, timeout: float) -> dict[str, dict]:
        """Wait for the trickle to end; each kind's summary."""
        self.thread.join(timeout)
        return {kind: self.figures.get(kind, KindFigures()).summary() for kind in KINDS}
