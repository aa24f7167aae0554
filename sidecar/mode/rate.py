"""Webhooks per hour across every gateway: per-minute buckets in Redis.

Key layout: `sidecar:rate:{minute}` (minute = unix time // 60) holds how many webhooks all
gateways received in that minute; each bucket expires after two hours. The hot path only
bumps an in-process dict under a lock (O(1), no I/O); `flush()` moves those counts into
Redis with INCRBY + EXPIRE, and `per_hour()` is the sum of the last 60 buckets (the current,
partial minute included) by one MGET, plus what this process has not flushed yet. Without
Redis the same counts are kept in-process, so the rate is this gateway's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from sidecar.queues.connection import translate

KEY_PREFIX = "sidecar:rate:"
WINDOW_MINUTES = 60
BUCKET_TTL_SECONDS = 2 * 3600


def bucket_key(minute: int) -> str:
    """The Redis key of one minute's bucket."""
    return f"{KEY_PREFIX}{minute}"


class RateCounter:
    """Counts webhooks. Parameters: `clock` (unix seconds), `window_minutes` (the window)."""

    def __init__(
        self, clock: Callable[[], float] = time.time, window_minutes: int = WINDOW_MINUTES
    ) -> None:
        self.clock, self.window_minutes = clock, window_minutes
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}
        self._local: dict[int, int] = {}

    def record(self, count: int = 1) -> None:
        """Count `count` webhooks received now (the request hot path: no I/O)."""
        minute = int(self.clock() // 60)
        with self._lock:
            self._pending[minute] = self._pending.get(minute, 0) + count

    def flush(self, client: redis.Redis | None) -> None:
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
                    pipe.incrby(bucket_key(minute), count)
                    pipe.expire(bucket_key(minute), BUCKET_TTL_SECONDS)
                pipe.execute()
        except Exception:
            self._merge(self._pending, pending)
            raise

    def per_hour(self, client: redis.Redis | None) -> float:
        """Webhooks received in the last hour by every gateway (this one alone without Redis)."""
        minutes = self._window()
        with self._lock:
            unflushed = sum(self._pending.get(m, 0) for m in minutes)
            if client is None:
                return float(unflushed + sum(self._local.get(m, 0) for m in minutes))
        with translate():
            values = client.mget([bucket_key(m) for m in minutes])
        return float(unflushed + sum(int(v) for v in values if v is not None))

    def _window(self) -> list[int]:
        """The minutes of the window, oldest first, ending with the current one."""
        now = int(self.clock() // 60)
        return list(range(now - self.window_minutes + 1, now + 1))

    def _merge(self, into: dict[int, int], counts: dict[int, int]) -> None:
        """Add `counts` to `into` and forget minutes that left the window."""
        oldest = int(self.clock() // 60) - self.window_minutes
        with self._lock:
            for minute, count in counts.items():
                if minute > oldest:
                    into[minute] = into.get(minute, 0) + count
            for minute in [m for m in into if m <= oldest]:
                del into[minute]
