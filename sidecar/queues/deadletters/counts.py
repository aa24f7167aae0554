"""Dead letters counted rather than kept: unregistered-webhook dead letters per path and hour
(the cap of sidecar/worker/unregistered.py) and the dead letters dropped, per reason
(sidecar_dlq_dropped_total).
"""

from __future__ import annotations

import hashlib
import time

import redis
from redis.client import Pipeline

from sidecar.backend.keys import KeySchema


def is_unregistered(status: int | None, error: str) -> bool:
    """n8n's "webhook is not registered" answer (a 404 naming the webhook)."""
    return status == 404 and "is not registered" in error


def unregistered_counts(client: redis.Redis, keys: KeySchema, paths: list[str]) -> list[int]:
    """Count one more unregistered-webhook dead letter for each of `paths` in the current
    hour (fixed windows, one key per path and hour); the counts after counting."""
    hour = int(time.time() // 3600)
    with client.pipeline(transaction=False) as pipe:
        for path in paths:
            key = keys.dlq_unregistered(hashlib.sha256(path.encode()).hexdigest()[:32], hour)
            pipe.incr(key)
            pipe.expire(key, 3600)
        replies = pipe.execute()
    return [int(count) for count in replies[::2]]


def count_dropped(pipe: Pipeline, keys: KeySchema, reason: str) -> None:
    """One dead letter not kept, for `reason` (sidecar_dlq_dropped_total{reason})."""
    pipe.hincrby(keys.dlq_dropped, reason, 1)


def dropped_counts(client: redis.Redis, keys: KeySchema) -> dict[str, int]:
    """Dead letters not kept so far, per reason."""
    return {k.decode(): int(v) for k, v in client.hgetall(keys.dlq_dropped).items()}
