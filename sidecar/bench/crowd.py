"""A crowd of concurrent keep-alive senders for a fixed time (the slow-n8n scenario): what it
measured, and the Python load generator used when hey (bench/hey.py) is not there — asyncio
streams, one coroutine per sender, raw HTTP/1.1 (no client library to install)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from dataclasses import dataclass

from sidecar.bench.stats import percentile

HOST = "127.0.0.1"
BODY = b'{"a":1}'
PYTHON_TOOL = "python asyncio: hey not available"


@dataclass(frozen=True)
class CrowdFigures:
    """What a crowd measured: 200 answers, failures (no answer within the timeout, errors,
    other statuses), wall seconds, latencies of the answers (ms) and the tool used."""

    answered: int
    failed: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    tool: str

    @property
    def rate_per_s(self) -> float:
        """200 answers per wall second."""
        return self.answered / self.elapsed if self.elapsed > 0 else math.nan


def request_bytes(port: int, path: str) -> bytes:
    """One keep-alive POST of a small JSON body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


async def read_answer(reader: asyncio.StreamReader) -> int:
    """Read one answer (Content-Length or chunked body); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split(" ", 2)[1])


@dataclass
class Tally:
    """Latencies (s) of 200 answers and the count of failures, shared by the coroutines."""

    latencies: list[float]
    failed: int = 0


async def one_sender(port: int, path: str, until: float, timeout: float, tally: Tally) -> None:
    """Send on one keep-alive connection until `until`; reconnect after a failure."""
    request = request_bytes(port, path)
    writer = None
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            if writer is None:
                connecting = asyncio.open_connection(HOST, port)
                reader, writer = await asyncio.wait_for(connecting, timeout)
            writer.write(request)
            status = await asyncio.wait_for(read_answer(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            tally.failed += 1
            close(writer)
            writer = None
            continue
        if status == 200:
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.failed += 1
    close(writer)


def close(writer: asyncio.StreamWriter | None) -> None:
    """Close a connection if one is open."""
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()


async def crowd(port: int, path: str, senders: int, seconds: float, timeout: float) -> Tally:
    """`senders` coroutines sending for `seconds` (each finishes its last request)."""
    tally = Tally([])
    until = time.monotonic() + seconds
    await asyncio.gather(*(one_sender(port, path, until, timeout, tally) for _ in range(senders)))
    return tally


def python_crowd(
    port: int, path: str, senders: int, seconds: float, timeout: float
) -> CrowdFigures:
    """Run the Python crowd (blocks; run it in a thread to sample while it runs)."""
    started = time.perf_counter()
    tally = asyncio.run(crowd(port, path, senders, seconds, timeout))
    elapsed = time.perf_counter() - started
    ms = [latency * 1000 for latency in tally.latencies]
    return CrowdFigures(
        answered=len(ms),
        failed=tally.failed,
        elapsed=elapsed,
        p50_ms=statistics.median(ms) if ms else math.nan,
        p99_ms=percentile(ms, 0.99),
        tool=PYTHON_TOOL,
    )
