"""n8n answer times seen by every process, and their p95 over a recent window.

Key layout: KeySchema.latency (`sidecar:latency`) is a sorted set shared by gateways and
workers; score = unix time of the sample, member = "{seconds}:{pid}-{token}:{sequence}"
(unique, so equal durations are all kept). Each flush adds this process's samples and trims
the set to the window and to `cap` members, so it stays small whatever the traffic. The hot
path only appends to a bounded in-process deque (no I/O). Without Redis the samples stay in-process.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema

DEFAULT_WINDOW_SECONDS = 300.0
DEFAULT_CAP = 2000


def percentile(values: Iterable[float], fraction: float = 0.95) -> float | None:
    """The nearest-rank percentile of `values`; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class LatencyReservoir:
    """Answer-time samples. Parameters: `clock` (unix seconds), `window_seconds` (how far
    back the p95 looks), `cap` (most samples kept, locally and in Redis)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        cap: int = DEFAULT_CAP,
    ) -> None:
        self.clock, self.window_seconds, self.cap = clock, window_seconds, cap
        self._lock = threading.Lock()
        self._pending: deque[tuple[float, float]] = deque(maxlen=cap)
        self._local: deque[tuple[float, float]] = deque(maxlen=cap)
        self._token = secrets.token_hex(4)
        self._sequence = 0

    def record(self, seconds: float) -> None:
        """Keep one answer time (the hot path: no I/O)."""
        sample = (self.clock(), float(seconds))
        with self._lock:
            self._pending.append(sample)

    def flush(self, client: redis.Redis | None, keys: KeySchema) -> None:
        """Move unflushed samples to Redis (or the local window); BackendUnavailable on failure."""
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
            if client is None:
                self._local.extend(pending)
                return
        try:
            self._write(client, keys.latency, pending)
        except Exception:
            with self._lock:
                self._pending.extendleft(reversed(pending))
            raise

    def p95(self, client: redis.Redis | None, keys: KeySchema) -> float | None:
        """The p95 answer time of the window; None when nothing was answered in it."""
        oldest = self.clock() - self.window_seconds
        with self._lock:
            values = [s for at, s in self._pending if at > oldest]
            if client is None:
                values += [s for at, s in self._local if at > oldest]
        if client is not None:
            with translate():
                members = client.zrangebyscore(keys.latency, f"({oldest}", "+inf")
            values += [float(member.split(b":", 1)[0]) for member in members]
        return percentile(values)

    def _write(self, client: redis.Redis, key: str, samples: list[tuple[float, float]]) -> None:
        """ZADD `samples`, then trim the set to the window and the cap."""
        oldest = self.clock() - self.window_seconds
        with translate():
            pipe = client.pipeline(transaction=False)
            if samples:
                pipe.zadd(key, {self._member(seconds): at for at, seconds in samples})
            pipe.zremrangebyscore(key, "-inf", oldest)
            pipe.zremrangebyrank(key, 0, -(self.cap + 1))
            pipe.expire(key, max(1, math.ceil(self.window_seconds * 2)))
            pipe.execute()

    def _member(self, seconds: float) -> str:
        """A unique sorted-set member carrying `seconds`."""
        self._sequence += 1
        return f"{seconds:.6f}:{os.getpid()}-{self._token}:{self._sequence}"
