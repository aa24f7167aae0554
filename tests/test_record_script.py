"""lua/record.lua (Ledger.record) against real Redis: a batch of outcomes leaves exactly what
the former MULTI/EXEC of redis-py commands left (support/legacy_ledger.py) — registries, job
hashes, TTLs, delivered markers, statistics, events and dead letters."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest
import redis
from support import legacy_ledger

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.scripts import Scripts
from sidecar.queues import jobs
from sidecar.queues.jobs import (
    JOB_PREFIX,
    TakenJob,
    build_job,
    decode_data,
    locks_key,
    parse_taken,
    persist,
    queue_key,
    registry_key,
    rq_now,
)
from sidecar.queues.overview import paused_key
from sidecar.settings import Settings, load_settings
from sidecar.worker.ledger import Ledger
from sidecar.worker.policy import Outcome

INBOUND, TASKS = "flrts:webhooks:inbound", "flrts:tasks:create"
PAYLOAD = {"method": "POST", "path": "/webhook/x", "query": "", "headers": [], "body": ""}
EXEC = "exec1"
TIMES = {b"created_at", b"enqueued_at", b"started_at", b"ended_at"}
OUTCOMES = {
    "a-done": Outcome("done", status=200, duration=0.0123456),
    "a-retry": Outcome("retry", status=503, error="n8n answered HTTP 503: busy", duration=0.002),
    "a-again": Outcome("done", error="already delivered by a previous run"),
    "a-dead": Outcome("dead", status=404, error="n8n answered HTTP 404: " + "x" * 400),
    "a-last": Outcome("retry", error="connection refused", duration=1.5),
    "b-done": Outcome("done", status=201, duration=0.004),
    "b-later": Outcome("retry", status=429, error="n8n answered HTTP 429: ", retry_after=30.0),
}


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(REDIS_URL=redis_url, SIDECAR_KEEP_COMPLETED_SECONDS=600)


@pytest.fixture
def same_randomness(monkeypatch: pytest.MonkeyPatch):
    """Backoffs without jitter, and dead-letter job ids that repeat on every `reset()`."""
    monkeypatch.setattr("sidecar.worker.policy.random.uniform", lambda low, high: 1.0)

    def reset() -> None:
        counter = itertools.count()
        monkeypatch.setattr(jobs, "new_job_id", lambda: f"dead-letter-{next(counter)}")

    return reset


def taken_batch(client: redis.Redis, settings: Settings) -> list[tuple[TakenJob, Outcome]]:
    """The jobs of OUTCOMES queued, taken by a worker, and paired with their outcome."""
    with client.pipeline() as pipe:
        for job_id in OUTCOMES:
            queue = INBOUND if job_id.startswith("a-") else TASKS
            persist(pipe, queue, build_job(client, settings, queue, PAYLOAD, job_id=job_id))
        pipe.hset(JOB_PREFIX + "a-last", "sidecar_attempt", settings.job_attempts - 1)
        pipe.set(DEFAULT_KEYS.delivered_prefix + "a-again", 1)
        pipe.execute()
    taken = take(client, INBOUND) + take(client, TASKS)
    return [(job, OUTCOMES[job.id]) for job in taken]


def take(client: redis.Redis, queue: str) -> list[TakenJob]:
    keys = [queue_key(queue), registry_key("wip", queue), locks_key(queue), "sidecar:limit:x"]
    keys.append(paused_key(queue))
    args = [100, time.time() + 60, time.time() + 3600, rq_now(), "w", EXEC]
    args += [JOB_PREFIX, DEFAULT_KEYS.delivered_prefix, 1_000_000, 60_000]
    return parse_taken(queue, Scripts(client).dequeue(keys=keys, args=args))


def snapshot(client: redis.Redis) -> dict:
    """Every key with its value and TTL; times, stream ids and the minute made comparable."""
    now = time.time()
    state = {}
    for key in sorted(client.keys("*")):
        name = re.sub(rb"^(sidecar:stats:.*):\d+$", rb"\1:MINUTE", key)
        ttl = client.pttl(key)
        state[name] = (value(client, key, now), round(ttl / 1000) if ttl > 0 else ttl)
    return state


def value(client: redis.Redis, key: bytes, now: float) -> object:
    kind = client.type(key)
    if kind == b"hash":
        return {f: masked(f, v) for f, v in client.hgetall(key).items()}
    if kind == b"zset":
        return [(m, round(s - now)) for m, s in client.zrange(key, 0, -1, withscores=True)]
    if kind == b"stream":
        return [fields for _, fields in client.xrange(key)]
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(client.smembers(key))
    return client.get(key)


def masked(field: bytes, raw: bytes) -> object:
    if field in TIMES and raw:
        return "TIME"
    if field == b"data":
        data = decode_data(raw)
        return {k: v for k, v in data.items() if k != "failedAt"} if "failedAt" in data else data
    if field == b"sidecar_dlq":  # a dead letter's summary
        return {k: v for k, v in json.loads(raw).items() if k != "failedAt"}
    return raw


def test_a_batch_leaves_what_the_redis_py_transaction_left(
    redis_url: str, settings: Settings, same_randomness
) -> None:
    legacy = redis.Redis.from_url(redis_url)
    scripted = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1")  # another database
    scripted.flushdb()
    same_randomness()
    legacy_ledger.record(legacy, settings, EXEC, taken_batch(legacy, settings))
    same_randomness()
    counts = Ledger(scripted, Scripts(scripted), settings, EXEC).record(
        taken_batch(scripted, settings)
    )

    assert counts == {"done": 3, "retry": 2, "dead": 2}
    expected = snapshot(legacy)
    assert snapshot(scripted) == expected
    assert len(expected[b"sidecar:events"][0]) == 5  # two dead letters, three completed
    assert expected[b"rq:scheduled:" + TASKS.encode()] == ([(b"b-later", 30)], -1)
    scripted.flushdb()


def test_an_empty_batch_writes_nothing(rdb: redis.Redis, settings: Settings) -> None:
    assert Ledger(rdb, Scripts(rdb), settings, EXEC).record([]) == {
        "done": 0,
        "retry": 0,
        "dead": 0,
    }
    assert rdb.keys("*") == []
