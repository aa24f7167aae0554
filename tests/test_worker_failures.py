"""Delivery failures: retries with backoff, Retry-After, the dead-letter queue.

n8n is the fake n8n with scripted answers; the jobs go in through a real gateway and a real
worker process delivers them, so every assertion is about what reached n8n and what RQ shows.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import redis
from rq.job import JobStatus
from support.queues import (
    INBOUND,
    counts,
    dead_letters,
    enqueue,
    fetch,
    status,
    wait_webhooks,
    webhooks,
)

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until

BURST = ("--burst", "--queue", "webhooks:inbound")


def attempts_seen(n8n: FakeN8n) -> list[str | None]:
    """X-Sidecar-Attempt of every request n8n got, in order."""
    return [r.header("X-Sidecar-Attempt") for r in webhooks(n8n)]


def test_retried_after_server_errors_then_delivered(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/flaky", [Reply(500), Reply(503), Reply(200, body={"ok": True})])
    job_id = enqueue(queue_gateway, "/webhook/flaky", data=b"payload")

    worker = procs.worker(*BURST, **queue_env)
    assert worker.wait(20) == 0, worker.output()

    assert attempts_seen(n8n) == ["1", "2", "3"]
    assert {r.header("X-Sidecar-Job-Id") for r in webhooks(n8n)} == {job_id}
    assert {r.header("Idempotency-Key") for r in webhooks(n8n)} == {job_id}
    assert all(r.body == b"payload" for r in webhooks(n8n))
    assert fetch(rdb, job_id).get_status() == JobStatus.FINISHED
    assert counts(rdb)["failed"] == 0
    assert dead_letters(rdb) == []


@pytest.mark.parametrize(
    "failure",
    [Reply(408), Reply(429), Reply(502), Reply(200, drop=True)],
    ids=["408", "429", "502", "connection-dropped"],
)
def test_retryable_answers_are_retried(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env, failure: Reply
) -> None:
    n8n.script("/webhook/retryable", [failure, Reply(200)])
    job_id = enqueue(queue_gateway, "/webhook/retryable")

    assert procs.worker(*BURST, **queue_env).wait(20) == 0

    assert attempts_seen(n8n) == ["1", "2"]
    assert status(rdb, job_id) == "finished"


def test_exhausted_retries_go_to_the_dead_letter_queue(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/down", [Reply(500, body={"message": "boom"})])
    job_id = enqueue(queue_gateway, "/webhook/down?x=1", json={"update_id": 7})
    payload = fetch(rdb, job_id).args[0]

    worker = procs.worker(*BURST, **{**queue_env, "SIDECAR_JOB_ATTEMPTS": 4})
    assert worker.wait(20) == 0, worker.output()

    assert attempts_seen(n8n) == ["1", "2", "3", "4"]
    (entry,) = dead_letters(rdb)
    assert set(entry) == {"queue", "jobId", "data", "error", "attempts", "failedAt"}
    assert entry["queue"] == INBOUND
    assert entry["jobId"] == job_id
    assert entry["data"] == payload
    assert entry["attempts"] == 4
    assert "500" in entry["error"] and "boom" in entry["error"]
    assert datetime.fromisoformat(entry["failedAt"]).tzinfo is not None
    job = fetch(rdb, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert counts(rdb) == {"queued": 0, "started": 0, "scheduled": 0, "finished": 0, "failed": 1}


def test_unregistered_webhook_is_dead_lettered_at_once(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/never-registered")

    worker = procs.worker(*BURST, **{**queue_env, "SIDECAR_JOB_ATTEMPTS": 5})
    assert worker.wait(20) == 0, worker.output()

    assert attempts_seen(n8n) == ["1"]
    (entry,) = dead_letters(rdb)
    assert entry["jobId"] == job_id
    assert entry["attempts"] == 1
    assert "404" in entry["error"]
    assert "is not registered" in entry["error"]
    assert status(rdb, job_id) == "failed"


@pytest.mark.parametrize("code", [400, 401, 403, 422])
def test_other_client_errors_are_not_retried(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env, code: int
) -> None:
    job_id = enqueue(queue_gateway, f"/webhook/status/{code}")

    assert procs.worker(*BURST, **queue_env).wait(20) == 0

    assert attempts_seen(n8n) == ["1"]
    assert [e["jobId"] for e in dead_letters(rdb)] == [job_id]


def test_retry_after_is_honoured(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/busy", [Reply(429, headers={"Retry-After": "1"}), Reply(200)])
    job_id = enqueue(queue_gateway, "/webhook/busy")

    assert procs.worker(*BURST, **queue_env).wait(20) == 0

    first, second = webhooks(n8n)
    assert second.at - first.at >= 1.0  # the backoff alone would be about 0.05 s
    assert status(rdb, job_id) == "finished"


def test_backoff_grows_between_attempts(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/backoff", [Reply(503)])
    enqueue(queue_gateway, "/webhook/backoff")

    env = {**queue_env, "SIDECAR_JOB_BACKOFF_SECONDS": 0.3, "SIDECAR_JOB_ATTEMPTS": 3}
    assert procs.worker(*BURST, **env).wait(20) == 0

    first, second, third = (r.at for r in webhooks(n8n))
    assert second - first >= 0.3 * 0.8  # base, minus the most jitter
    assert third - second >= 0.6 * 0.8  # twice the base
    assert len(dead_letters(rdb)) == 1


def test_job_waits_in_the_scheduled_registry_between_attempts(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/later", [Reply(503, headers={"Retry-After": "30"}), Reply(200)])
    job_id = enqueue(queue_gateway, "/webhook/later")

    worker = procs.worker("--queue", "webhooks:inbound", **queue_env)
    wait_webhooks(n8n, 1, timeout=10)

    wait_until(lambda: counts(rdb)["scheduled"] == 1, timeout=5, what="a scheduled retry")
    assert fetch(rdb, job_id).get_status() == JobStatus.SCHEDULED
    assert 30 <= rdb.zscore(f"rq:scheduled:{INBOUND}", job_id) - webhooks(n8n)[0].at < 40
    assert worker.stop() == 0, worker.output()
    assert len(webhooks(n8n)) == 1


def test_a_garbled_retry_after_header_does_not_undo_a_success(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/odd", [Reply(200, headers={"Retry-After": "\u00b2"})])  # byte 0xB2
    job_id = enqueue(queue_gateway, "/webhook/odd")

    worker = procs.worker(*BURST, **queue_env)
    assert worker.wait(20) == 0, worker.output()

    assert len(webhooks(n8n)) == 1
    assert status(rdb, job_id) == "finished"
    assert "crashed" not in worker.output()


def test_an_answer_cut_off_after_a_2xx_status_is_a_delivery(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    # n8n said 200 (the workflow has the webhook) but its body never arrives in full.
    n8n.script("/webhook/cut", [Reply(200, headers={"Content-Length": "1000"}, body=b"partial")])
    job_id = enqueue(queue_gateway, "/webhook/cut")

    env = {**queue_env, "SIDECAR_UPSTREAM_TIMEOUT_SECONDS": 0.5}
    worker = procs.worker(*BURST, **env)
    assert worker.wait(20) == 0, worker.output()

    assert attempts_seen(n8n) == ["1"]
    assert status(rdb, job_id) == "finished"
    assert dead_letters(rdb) == []
