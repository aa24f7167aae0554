"""Which workers are alive: each worker checks in on every heartbeat and out when it stops.

Key layout: KeySchema.workers (`sidecar:workers`) is a sorted set, member = worker name,
score = unix time of its last check-in; names not seen for an hour are forgotten at the
next check-in.
"""

from __future__ import annotations

import time

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema


def check_in(client: redis.Redis, keys: KeySchema, name: str) -> None:
    """A worker says it is alive (every heartbeat)."""
    client.zadd(keys.workers, {name: time.time()})
    client.zremrangebyscore(keys.workers, "-inf", time.time() - 3600)  # forget long-gone ones


def check_out(client: redis.Redis, keys: KeySchema, name: str) -> None:
    """A worker that stops says so."""
    client.zrem(keys.workers, name)


def live_worker_count(client: redis.Redis, keys: KeySchema, within_seconds: float = 60) -> int:
    """Worker processes that checked in during the last `within_seconds`."""
    with translate():
        return int(client.zcount(keys.workers, time.time() - within_seconds, "+inf"))


def live_worker_names(
    client: redis.Redis, keys: KeySchema, within_seconds: float, now: float
) -> set[str]:
    """The names of the workers that checked in during the `within_seconds` before `now`."""
    return {m.decode() for m in client.zrangebyscore(keys.workers, now - within_seconds, "+inf")}
