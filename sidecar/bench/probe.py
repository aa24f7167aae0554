"""A normal webhook, each on a new connection, timed (the slow-senders scenario): one after
another on a quiet server, or on a schedule while something else loads it."""

from __future__ import annotations

import http.client
import statistics
import threading
import time

from sidecar.bench.crowd import BODY, HOST

PROBE_PATH = "/webhook/bench"
PROBE_TIMEOUT = 5.0  # seconds: later is "no answer"
QUIET_GAP = 0.1


def probe(port: int, timeout: float = PROBE_TIMEOUT) -> float | None:
    """Milliseconds to a 200 answer; None when there was none within `timeout`."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", PROBE_PATH, body=BODY, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed if response.status == 200 and elapsed <= timeout * 1000 else None


def quiet_probes(port: int, count: int) -> list[float | None]:
    """`count` probes one after another, a short gap between them."""
    results = []
    for _ in range(count):
        results.append(probe(port))
        time.sleep(QUIET_GAP)
    return results


def scheduled_probes(port: int, first: float, last: float, every: float) -> list[float | None]:
    """Probes started at `first`, `first + every`, … ≤ `last` seconds from now (at least
    one), each in its own thread so a starved one does not delay the next; all results."""
    count = 1 + max(0, int((last - first) // every))
    results: list[float | None] = [None] * count
    start = time.monotonic()

    def one(index: int) -> None:
        """Wait for its time, then probe."""
        time.sleep(max(0.0, start + first + index * every - time.monotonic()))
        results[index] = probe(port)

    threads = [threading.Thread(target=one, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(first + count * every + PROBE_TIMEOUT + 5)
    return results


def summary(results: list[float | None]) -> dict:
    """Median and max in ms (a probe without answer counts as the timeout), how many got no
    answer, and each probe's ms (None: no answer), in the order sent."""
    ms = [PROBE_TIMEOUT * 1000 if result is None else result for result in results]
    return {
        "probes": len(results),
        "median_ms": statistics.median(ms) if ms else None,
        "max_ms": max(ms) if ms else None,
        "no_answer": sum(result is None for result in results),
        "each_ms": [None if result is None else round(result, 2) for result in results],
    }
