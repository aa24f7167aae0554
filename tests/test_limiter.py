"""The global delivery limiter: SIDECAR_WORKER_LIMIT_MAX deliveries per queue per window of
SIDECAR_WORKER_LIMIT_DURATION_SECONDS, across every worker. Excess jobs wait; they use no
attempt and never fail because of the limit."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from support.queues import INBOUND, counts, dead_letters, enqueue, webhooks

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway
from sidecar.settings import load_settings
from sidecar.worker import runner
from sidecar.worker.runner import Worker


def test_limited_jobs_wait_for_the_next_window_instead_of_failing(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    ids = [enqueue(queue_gateway, f"/webhook/echo/{n}") for n in range(9)]
    env = {
        **queue_env,
        "SIDECAR_WORKER_LIMIT_MAX": 3,
        "SIDECAR_WORKER_LIMIT_DURATION_SECONDS": 1,
        "SIDECAR_JOB_ATTEMPTS": 1,  # a job that failed for the limit would be dead at once
    }

    workers = [procs.worker("--burst", "--queue", "webhooks:inbound", **env) for _ in range(2)]
    for worker in workers:
        assert worker.wait(20) == 0, worker.output()

    assert sorted(r.header("X-Sidecar-Job-Id") for r in webhooks(n8n)) == sorted(ids)
    assert {r.header("X-Sidecar-Attempt") for r in webhooks(n8n)} == {"1"}
    # 3 per fixed 1 s window: nine jobs are taken in at least three windows, so the first
    # and the last take are over a second apart. Read where the permit is taken (each job's
    # started_at, written by dequeue.lua with the permit), not where n8n sees the request: a
    # busy machine delays deliveries by any amount, it cannot bring takes closer together.
    # Without the limit all nine are taken within a few milliseconds.
    taken = sorted(started_at(rdb, job_id) for job_id in ids)
    assert taken[-1] - taken[0] > 0.5, taken
    assert counts(rdb) == {"queued": 0, "started": 0, "scheduled": 0, "finished": 9, "failed": 0}
    assert dead_letters(rdb) == []


def started_at(rdb: redis.Redis, job_id: str) -> float:
    """When a worker took job `job_id` (RQ's started_at), in unix seconds."""
    text = rdb.hget(f"rq:job:{job_id}", "started_at").decode()
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@pytest.fixture
def in_process_worker(redis_url: str, n8n: FakeN8n) -> Iterator[Worker]:
    """A Worker object (not running) on the session redis: limit 3 per 10 s window."""
    settings = load_settings(
        REDIS_URL=redis_url,
        N8N_URL=n8n.url,
        SIDECAR_WORKER_LIMIT_MAX=3,
        SIDECAR_WORKER_LIMIT_DURATION_SECONDS=10,
    )
    client = redis.Redis.from_url(redis_url)
    worker = Worker(settings, client, [INBOUND], concurrency=5)
    yield worker
    worker.pool.shutdown()
    worker.upstream.close()
    client.close()


def test_an_empty_queue_uses_no_part_of_the_limit(
    in_process_worker: Worker, rdb: redis.Redis
) -> None:
    assert in_process_worker._take(INBOUND, 3) == []
    assert rdb.keys("sidecar:limit:*") == []  # nothing counted, nothing to give back


def test_the_limit_is_shared_by_takers_within_a_window(
    in_process_worker: Worker, rdb: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner.time, "time", lambda: 25.0)  # window 2 of 10 s
    other = Worker(in_process_worker.settings, rdb, [INBOUND], concurrency=5)
    try:
        for number in range(5):
            rdb.rpush(f"rq:queue:{INBOUND}", f"job{number}")
            rdb.hset(
                f"rq:job:job{number}",
                "data",
                zlib.compress(json.dumps(["f", None, [{}], {}]).encode()),
            )
        taken = [
            len(in_process_worker._take(INBOUND, 2)),
            len(other._take(INBOUND, 5)),
            len(in_process_worker._take(INBOUND, 1)),
        ]
    finally:
        other.pool.shutdown()
        other.upstream.close()
    assert taken == [2, 1, 0]  # limit 3 per window across both workers
    key = f"sidecar:limit:{INBOUND}:2"
    assert int(rdb.get(key)) == 3
    assert 10_000 < rdb.pttl(key) <= 20_000  # outlives its window, then goes
    assert rdb.llen(f"rq:queue:{INBOUND}") == 2  # the rest waits, untouched
