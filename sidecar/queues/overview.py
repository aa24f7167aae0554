"""Per-queue counts (the seed's checkQueueHealth) and pausing a queue."""

from __future__ import annotations

import time

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for_queue
from sidecar.queues.jobs import locks_key, queue_key, registry_key

COUNT_NAMES = ("waiting", "active", "completed", "failed", "delayed", "paused")


def paused_key(queue: str) -> str:
    """Flag set while `queue` is paused: workers take nothing from it."""
    return keys_for_queue(queue).paused(queue)


def queue_counts(client: redis.Redis, queues: list[str]) -> dict[str, dict[str, int | bool]]:
    """waiting, active, completed, failed, delayed and paused for each queue, in one round trip."""
    now = time.time()
    with translate(), client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue_key(queue))
            pipe.zcard(locks_key(queue))
            pipe.zcount(registry_key("finished", queue), now, "+inf")
            pipe.zcount(registry_key("failed", queue), now, "+inf")
            pipe.zcard(registry_key("scheduled", queue))
            pipe.exists(paused_key(queue))
        replies = pipe.execute()
    counts = {}
    for index, queue in enumerate(queues):
        row = replies[index * 6 : index * 6 + 6]
        counts[queue] = {name: int(value) for name, value in zip(COUNT_NAMES, row, strict=True)}
        counts[queue]["paused"] = bool(row[5])
    return counts


def set_paused(client: redis.Redis, queue: str, paused: bool) -> None:
    """Pause (workers stop taking from it; it still accepts webhooks) or resume `queue`."""
    with translate():
        if paused:
            client.set(paused_key(queue), 1)
        else:
            client.delete(paused_key(queue))
