"""Webhooks per hour across every gateway: 60 buckets per window in Redis.

The window is SIDECAR_RATE_WINDOW_SECONDS (an hour by default; tests shrink it), cut into 60
buckets of window/60 seconds. Key layout: KeySchema.rate_bucket,
`sidecar:rate:{bucket seconds}:{bucket number}`
holds how many webhooks all gateways received in that bucket; each expires after two
windows. The hot path only bumps an in-process dict under a lock (O(1), no I/O); `flush()`
moves those counts into Redis with INCRBY + EXPIRE, and `per_hour()` is the sum of the last
60 buckets (the current, partial one included) by one MGET, plus what this process has not
flushed yet, scaled to an hour. Without Redis the same counts are kept in-process, so the
rate is this gateway's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema

BUCKETS = 60
HOUR = 3600.0


class RateCounter:
    """Counts webhooks. Parameters: `clock` (unix seconds), `window_seconds` (the window)."""

    def __init__(
        self, clock: Callable[[], float] = time.time, window_seconds: float = HOUR
    ) -> None:
        self.clock = clock
        self.window_minutes = BUCKETS  # the window holds 60 buckets ("minutes" of the window)
        self.configure(window_seconds)
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}
        self._local: dict[int, int] = {}

    def configure(self, window_seconds: float) -> None:
        """Set the window (SIDECAR_RATE_WINDOW_SECONDS); its buckets are window/60 long."""
        self.bucket_seconds = window_seconds / BUCKETS
        self.bucket_ttl = max(1, round(2 * window_seconds))

    def bucket_key(self, keys: KeySchema, bucket: int) -> str:
        """The Redis key of one bucket."""
        return keys.rate_bucket(self.bucket_seconds, bucket)

    def record(self, count: int = 1) -> None:
        """Count `count` webhooks received now (the request hot path: no I/O)."""
        minute = int(self.clock() // self.bucket_seconds)
        with self._lock:
            self._pending[minute] = self._pending.get(minute, 0) + count

    def flush(self, client: redis.Redis | None, keys: KeySchema) -> None:
        """Move unflushed counts to Redis (or the local window); BackendUnavailable on failure.

        Counts that could not be written are kept for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if client is None:
            self._merge(self._local, pending)
            return
        try:
            with translate():
                pipe = client.pipeline(transaction=False)
                for minute, count in pending.items():
                    pipe.incrby(self.bucket_key(keys, minute), count)
                    pipe.expire(self.bucket_key(keys, minute), self.bucket_ttl)
                pipe.execute()
        except Exception:
            self._merge(self._pending, pending)
            raise

    def per_hour(self, client: redis.Redis | None, keys: KeySchema) -> float:
        """Webhooks per hour over the window, by every gateway (this one alone without Redis)."""
        return self._count(client, keys) * HOUR / (self.bucket_seconds * BUCKETS)

    def _count(self, client: redis.Redis | None, keys: KeySchema) -> int:
        minutes = self._window()
        with self._lock:
            unflushed = sum(self._pending.get(m, 0) for m in minutes)
            if client is None:
                return unflushed + sum(self._local.get(m, 0) for m in minutes)
        with translate():
            values = client.mget([self.bucket_key(keys, m) for m in minutes])
        return unflushed + sum(int(v) for v in values if v is not None)

    def _window(self) -> list[int]:
        """The minutes of the window, oldest first, ending with the current one."""
        now = int(self.clock() // self.bucket_seconds)
        return list(range(now - self.window_minutes + 1, now + 1))

    def _merge(self, into: dict[int, int], counts: dict[int, int]) -> None:
        """Add `counts` to `into` and forget minutes that left the window."""
        oldest = int(self.clock() // self.bucket_seconds) - self.window_minutes
        with self._lock:
            for minute, count in counts.items():
                if minute > oldest:
                    into[minute] = into.get(minute, 0) + count
            for minute in [m for m in into if m <= oldest]:
                del into[minute]
