"""The n8n circuit (issue 14 item 1): real Redis, real worker processes, fake n8n that is
first not listening at all, then started on the same port."""

from __future__ import annotations

import redis
from support.queues import INBOUND, counts, dead_letters, enqueue, webhooks

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.ports import free_port
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until
from sidecar.worker.circuit import OUTAGE_ERROR

PATH = "/webhook/respond-immediately"
QUEUE_ARGS = ("--queue", "webhooks:inbound", "--concurrency", "4")


def attempts_of(client: redis.Redis, job_ids: list[str]) -> list[int]:
    return [int(client.hget(f"rq:job:{j}", "sidecar_attempt") or 0) for j in job_ids]


def test_refused_connections_open_the_circuit_and_hold_jobs_without_spending_attempts(
    queue_gateway: Gateway, rdb: redis.Redis, procs, queue_env
) -> None:
    down = FakeN8n(port=free_port())  # nothing listens there yet: connection refused
    env = {**queue_env, "N8N_URL": down.url, "SIDECAR_JOB_ATTEMPTS": 1}
    job_ids = [enqueue(queue_gateway, PATH, json={"n": n}) for n in range(5)]
    procs.worker(*QUEUE_ARGS, **env)

    wait_until(lambda: rdb.exists(DEFAULT_KEYS.n8n_circuit), what="the circuit to open")
    # Probes fail with doubling backoff meanwhile; the jobs stay waiting, attempts unspent.
    wait_until(
        lambda: int(rdb.hget(DEFAULT_KEYS.n8n_circuit, "probes") or 0) >= 2, what="failed probes"
    )
    assert counts(rdb)["failed"] == 0 and dead_letters(rdb) == []
    assert counts(rdb)["queued"] == 5
    assert attempts_of(rdb, job_ids) == [0] * 5

    try:
        down.start()  # n8n is back: the probe closes the circuit, delivery resumes
        wait_until(lambda: counts(rdb)["finished"] == 5, timeout=30, what="all delivered")
        assert not rdb.exists(DEFAULT_KEYS.n8n_circuit)
        assert rdb.exists(DEFAULT_KEYS.n8n_recovered)
        seen = webhooks(down)
        assert sorted(r.header("X-Sidecar-Job-Id") for r in seen) == sorted(job_ids)
        assert {r.header("X-Sidecar-Attempt") for r in seen} == {"1"}
        assert any(r.path == "/healthz/readiness" for r in down.received)  # the probe
        assert counts(rdb)["failed"] == 0 and dead_letters(rdb) == []
    finally:
        down.stop()


def test_held_jobs_are_dead_lettered_after_the_maximum_outage(
    queue_gateway: Gateway, rdb: redis.Redis, procs, queue_env
) -> None:
    env = {**queue_env, "N8N_URL": f"http://127.0.0.1:{free_port()}"}
    job_ids = [enqueue(queue_gateway, PATH, json={"n": n}) for n in range(3)]
    procs.worker(*QUEUE_ARGS, SIDECAR_MAX_OUTAGE_SECONDS=1.5, **env)

    wait_until(lambda: counts(rdb)["failed"] == 3, timeout=30, what="dead letters")
    letters = wait_until(lambda: len(dead_letters(rdb)) == 3 and dead_letters(rdb))
    assert {letter["jobId"] for letter in letters} == set(job_ids)
    assert {letter["error"] for letter in letters} == {OUTAGE_ERROR}
    assert rdb.exists(DEFAULT_KEYS.n8n_circuit)  # still unreachable


def test_n8n_that_answers_keeps_the_circuit_closed(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    enqueue(queue_gateway, "/webhook/status/500")
    procs.worker("--burst", *QUEUE_ARGS, SIDECAR_JOB_ATTEMPTS=2, **queue_env).wait(30)
    assert counts(rdb)["failed"] == 1  # answers spend attempts as before
    assert not rdb.exists(DEFAULT_KEYS.n8n_circuit)
    assert rdb.llen(f"rq:queue:{INBOUND}") == 0


def test_a_starting_n8n_that_serves_its_page_for_webhooks_holds_them(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    # Seen with n8n 1.123: ready, but for some seconds webhooks get the editor's HTML 404.
    page = Reply(404, headers={"Content-Type": "text/html"}, body="<!DOCTYPE html><html></html>")
    n8n.script(PATH, [page, page, Reply(200)])
    job_id = enqueue(queue_gateway, PATH)
    procs.worker(*QUEUE_ARGS, SIDECAR_JOB_ATTEMPTS=1, **queue_env)

    wait_until(lambda: counts(rdb)["finished"] == 1, timeout=30, what="delivery")
    assert counts(rdb)["failed"] == 0 and dead_letters(rdb) == []
    assert [r.header("X-Sidecar-Attempt") for r in webhooks(n8n)] == ["1", "1", "1"]
    assert attempts_of(rdb, [job_id]) == [1]
