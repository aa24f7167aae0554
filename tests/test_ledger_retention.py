"""Retention of finished and failed jobs (SIDECAR_KEEP_COMPLETED_* / SIDECAR_KEEP_FAILED_*).

RQ keeps jobs by age only; the sidecar also caps how many it keeps, deleting the oldest job
hashes, as the seed's removeOnComplete/removeOnFail did.
"""

from __future__ import annotations

import time

import redis
from support.queues import INBOUND, counts, dead_letters, enqueue, status, webhooks

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway

BURST = ("--burst", "--queue", "webhooks:inbound")


def test_only_the_newest_completed_jobs_are_kept(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    ids = [enqueue(queue_gateway, f"/webhook/echo/{n}") for n in range(12)]

    env = {**queue_env, "SIDECAR_KEEP_COMPLETED_COUNT": 5}
    worker = procs.worker(*BURST, "--concurrency", "1", **env)  # one at a time: a known order
    assert worker.wait(20) == 0, worker.output()

    assert len(webhooks(n8n)) == 12
    kept = [m.decode() for m in rdb.zrange(f"rq:finished:{INBOUND}", 0, -1)]
    assert kept == ids[-5:]
    assert counts(rdb)["finished"] == 5
    assert [rdb.exists(f"rq:job:{job_id}") for job_id in ids] == [0] * 7 + [1] * 5
    assert all(rdb.exists(f"sidecar:delivered:{job_id}") for job_id in ids)  # no re-delivery


def test_completed_jobs_expire_after_keep_completed_seconds(
    queue_gateway: Gateway, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/ttl")

    env = {**queue_env, "SIDECAR_KEEP_COMPLETED_SECONDS": 120}
    assert procs.worker(*BURST, **env).wait(20) == 0

    assert status(rdb, job_id) == "finished"
    assert 100 < rdb.ttl(f"rq:job:{job_id}") <= 120
    assert 100 < rdb.ttl(f"sidecar:delivered:{job_id}") <= 120


def test_only_the_newest_failed_jobs_are_kept_but_every_dead_letter_is(
    queue_gateway: Gateway, rdb: redis.Redis, procs, queue_env
) -> None:
    ids = [enqueue(queue_gateway, f"/webhook/never-registered-{n}") for n in range(4)]

    env = {**queue_env, "SIDECAR_KEEP_FAILED_COUNT": 2, "SIDECAR_KEEP_FAILED_SECONDS": 300}
    worker = procs.worker(*BURST, "--concurrency", "1", **env)
    assert worker.wait(20) == 0, worker.output()

    assert [m.decode() for m in rdb.zrange(f"rq:failed:{INBOUND}", 0, -1)] == ids[-2:]
    assert [rdb.exists(f"rq:job:{job_id}") for job_id in ids] == [0, 0, 1, 1]
    assert 250 < rdb.ttl(f"rq:job:{ids[-1]}") <= 300
    assert [entry["jobId"] for entry in dead_letters(rdb)] == ids  # the data is kept there


def test_a_running_worker_enforces_the_cap_within_a_second_or_so(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    env = {**queue_env, "SIDECAR_KEEP_COMPLETED_COUNT": 3}
    worker = procs.worker("--queue", "webhooks:inbound", **env)  # not burst: no trim at exit
    ids = [enqueue(queue_gateway, f"/webhook/echo/{n}") for n in range(8)]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (
        len(webhooks(n8n)) == 8 and counts(rdb)["finished"] == 3
    ):
        time.sleep(0.1)
    assert len(webhooks(n8n)) == 8
    assert counts(rdb)["finished"] == 3, worker.output()
    assert sum(rdb.exists(f"rq:job:{job_id}") for job_id in ids) == 3
