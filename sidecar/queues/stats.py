"""Delivery statistics shared by every worker (the seed's MetricsCollector, but in Redis).

Per queue and minute: counters `processed` and `failed` (a hash per minute, kept one hour)
and the recent processing times (a list capped at SAMPLE_SIZE). Workers write them in the
same Lua call as the outcomes (lua/record.lua, with the keys of `keys`); `record` writes
the same on a pipeline. Readers sum the last `window` minutes.
"""

from __future__ import annotations

import math
import time

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for_queue

SAMPLE_SIZE = 1000
BUCKET_TTL_SECONDS = 3600


def _bucket(queue: str, minute: int) -> str:
    return keys_for_queue(queue).stats(queue, minute)


def _samples(queue: str) -> str:
    return keys_for_queue(queue).durations(queue)


def keys(queue: str, minute: int) -> tuple[str, str]:
    """The counters hash of `queue` for `minute` (unix time // 60), and its samples list."""
    return _bucket(queue, minute), _samples(queue)


def record(pipe: redis.client.Pipeline, queue: str, durations_ms: list[float], failed: int) -> None:
    """Count `len(durations_ms)` processed jobs (of which `failed` failed) and their times."""
    if not durations_ms:
        return
    key = _bucket(queue, int(time.time() // 60))
    pipe.hincrby(key, "processed", len(durations_ms))
    if failed:
        pipe.hincrby(key, "failed", failed)
    pipe.expire(key, BUCKET_TTL_SECONDS)
    pipe.lpush(_samples(queue), *[round(d, 3) for d in durations_ms])
    pipe.ltrim(_samples(queue), 0, SAMPLE_SIZE - 1)


def queue_metrics(
    client: redis.Redis, queues: list[str], window_minutes: int = 15
) -> dict[str, dict]:
    """processed, failed, avgProcessingTime, p95ProcessingTime (ms) per queue."""
    now = int(time.time() // 60)
    with translate(), client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for minute in range(now - window_minutes + 1, now + 1):
                pipe.hmget(_bucket(queue, minute), "processed", "failed")
            pipe.lrange(_samples(queue), 0, SAMPLE_SIZE - 1)
        replies = pipe.execute()
    result, step = {}, window_minutes + 1
    for index, queue in enumerate(queues):
        rows, samples = (
            replies[index * step : index * step + window_minutes],
            replies[index * step + window_minutes],
        )
        result[queue] = _summary(rows, sorted(float(s) for s in samples))
    return result


def _summary(rows: list[list[bytes | None]], durations: list[float]) -> dict[str, float | int]:
    processed = sum(int(p or 0) for p, _ in rows)
    failed = sum(int(f or 0) for _, f in rows)
    average = sum(durations) / len(durations) if durations else 0.0
    p95 = durations[max(0, math.ceil(len(durations) * 0.95) - 1)] if durations else 0.0
    return {
        "processed": processed,
        "failed": failed,
        "avgProcessingTime": round(average, 3),
        "p95ProcessingTime": round(p95, 3),
    }
