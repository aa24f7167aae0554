"""Waiting for the upstream to have seen every accepted webhook."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.errors import BenchError

POLL_SECONDS = 0.05


def wait_for_deliveries(
    bench: Bench, expected: int, what: str, timeout: float | None = None, strict: bool = True
) -> dict:
    """Poll the upstream until it saw `expected` distinct webhooks; its stats. After
    `timeout` (default: the phase timeout) BenchError, or when not `strict` the stats."""
    timeout = bench.options.timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    with bench.progress.counting(what, expected, "delivered") as counter:
        while True:
            stats = bench.upstream.stats()
            counter.set(stats["distinct"])
            if stats["distinct"] >= expected:
                return stats
            if time.monotonic() > deadline:
                if not strict:
                    return stats
                raise BenchError(
                    f"{what}: {stats['distinct']} of {expected} delivered after {timeout:g} s"
                )
            time.sleep(POLL_SECONDS)
