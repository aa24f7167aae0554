"""Which workers are alive: each worker checks in on every heartbeat and out when it stops.

Key layout: `sidecar:workers` is a sorted set, member = worker name, score = unix time of
its last check-in; names not seen for an hour are forgotten at the next check-in.
"""

from __future__ import annotations

import time

import redis

from sidecar.queues.connection import translate

WORKERS_KEY = "sidecar:workers"


def check_in(client: redis.Redis, name: str) -> None:
    """A worker says it is alive (every heartbeat)."""
    client.zadd(WORKERS_KEY, {name: time.time()})
    client.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - 3600)  # forget long-gone ones


def check_out(client: redis.Redis, name: str) -> None:
    """A worker that stops says so."""
    client.zrem(WORKERS_KEY, name)


def live_worker_count(client: redis.Redis, within_seconds: float = 60) -> int:
    """Worker processes that checked in during the last `within_seconds`."""
    with translate():
        return int(client.zcount(WORKERS_KEY, time.time() - within_seconds, "+inf"))


def live_worker_names(client: redis.Redis, within_seconds: float, now: float) -> set[str]:
    """The names of the workers that checked in during the `within_seconds` before `now`."""
    return {m.decode() for m in client.zrangebyscore(WORKERS_KEY, now - within_seconds, "+inf")}
