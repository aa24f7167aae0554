"""Honest backpressure: a full buffer answers 503 with a Retry-After worth waiting for.

A queue is full when SIDECAR_MAX_WAITING jobs wait on it, or when Redis' memory is over
SIDECAR_MAX_REDIS_MEMORY_PERCENT of its maxmemory. ingest.lua checks the first (and the
memory flag computed here) in the same script that stores the job, so nothing is accepted
that cannot be stored, and counts each refusal in KeySchema.backlog_full
(sidecar_backlog_full_total).

Retry-After is the waiting jobs divided by the measured drain rate: dequeue.lua counts the
jobs workers take per DRAIN_BUCKET_SECONDS; the rate is the count over the last
DRAIN_WINDOW_SECONDS, from the first bucket with any (a backlog that began draining a few
seconds ago is not diluted by the idle time before it), clamped to
[MIN_RETRY_AFTER, MAX_RETRY_AFTER] seconds; nothing drained (n8n down): the maximum.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from sidecar.backend.keys import KeySchema, keys_for_queue
from sidecar.queues.jobs import queue_key

DRAIN_BUCKET_SECONDS = 1
DRAIN_WINDOW_SECONDS = 30
DRAIN_TTL_SECONDS = 120
MIN_RETRY_AFTER = 1
MAX_RETRY_AFTER = 300
MEMORY_CHECK_SECONDS = 1.0
QUEUE_KEY_PREFIX = queue_key("")


class QueueFull(Exception):
    """ingest.lua refused a job: `waiting` jobs wait on its queue (or Redis memory is full)."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} jobs waiting")
        self.waiting = waiting


def drain_key(queue: str, now: float) -> str:
    """The counter of jobs taken from `queue` in the bucket holding unix time `now`."""
    return keys_for_queue(queue).drained(queue, int(now // DRAIN_BUCKET_SECONDS))


def drain_rate(client: redis.Redis, queue: str, now: float | None = None) -> float:
    """Jobs per second workers took from `queue` lately (0.0: none)."""
    now = time.time() if now is None else now
    current = int(now // DRAIN_BUCKET_SECONDS)
    buckets = range(current - DRAIN_WINDOW_SECONDS // DRAIN_BUCKET_SECONDS, current + 1)
    keys = [keys_for_queue(queue).drained(queue, b) for b in buckets]
    counts = [int(v or 0) for v in client.mget(keys)]
    first = next((i for i, count in enumerate(counts) if count), None)
    if first is None:
        return 0.0
    start = (buckets[first]) * DRAIN_BUCKET_SECONDS
    span = max(now - start, 1.0)
    return sum(counts) / span


def retry_after(waiting: int, rate: float) -> int:
    """Seconds until the jobs waiting now are drained at `rate`, clamped."""
    if rate <= 0:
        return MAX_RETRY_AFTER
    return max(MIN_RETRY_AFTER, min(MAX_RETRY_AFTER, round(waiting / rate)))


def refused_counts(client: redis.Redis, keys: KeySchema) -> dict[str, int]:
    """Webhooks refused because their queue was full, per queue (ingest.lua counts them
    under the queue's list key)."""
    counts = client.hgetall(keys.backlog_full).items()
    return {k.decode().removeprefix(QUEUE_KEY_PREFIX): int(v) for k, v in counts}


class MemoryWatch:
    """Whether Redis' memory is over `percent` of its maxmemory (no maxmemory: never),
    asked at most once per MEMORY_CHECK_SECONDS. Parameters: `client`, `percent`, `clock`."""

    def __init__(
        self, client: redis.Redis, percent: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client, self.percent, self.clock = client, percent, clock
        self._full, self._next = False, 0.0

    def due(self) -> bool:
        """Whether the next full() asks Redis (the event loop then calls it in a thread)."""
        return self.clock() >= self._next

    def full(self) -> bool:
        """The last answer, refreshed when due; a failed check keeps it."""
        now = self.clock()
        if now >= self._next:
            self._next = now + MEMORY_CHECK_SECONDS
            try:
                info = self.client.info("memory")
            except redis.RedisError:
                return self._full
            limit = int(info.get("maxmemory", 0) or 0)
            used = int(info.get("used_memory", 0) or 0)
            self._full = limit > 0 and used >= limit * self.percent / 100
        return self._full
