"""`n8n-sidecar worker` delivers queued webhooks to a real n8n-like server.

The webhook goes in through a real queue-mode gateway and comes out of a real worker
process; n8n must get what the sender sent, plus the three delivery headers.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import redis
from rq.job import JobStatus
from support.queues import (
    INBOUND,
    counts,
    dead_letters,
    enqueue,
    fetch,
    received_for,
    status,
    wait_webhooks,
    webhooks,
)
from support.raw_http import raw_request

from sidecar.backend.queue_names import resolve
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import ROOT, Gateway, sidecar_env
from sidecar.harness.waiting import wait_until
from sidecar.queues.jobs import enqueue_payload
from sidecar.queues.overview import set_paused
from sidecar.settings import load_settings

BURST = ("--burst", "--queue", "webhooks:inbound")
JSON_SERIALIZER = "rq.serializers.JSONSerializer"


def test_delivery_replays_the_request_byte_for_byte(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    body = FakeN8n.BINARY
    headers = {
        "Host": "hooks.example",
        "Content-Type": "application/octet-stream",
        "Authorization": "Bearer abc",
        "X-Custom": "one",
    }
    target = "/webhook/echo/caf%c3%a9/x?q=a+b%20c&q=%2f&empty="
    answer = raw_request(queue_gateway.port, "PUT", target, body, headers)
    job_id = answer.getheader("X-Sidecar-Job-Id")
    assert answer.status == 202

    worker = procs.worker(*BURST, **queue_env)
    assert worker.wait(20) == 0, worker.output()

    (got,) = webhooks(n8n)
    assert got.method == "PUT"
    assert (got.path, got.query) == ("/webhook/echo/caf%c3%a9/x", "q=a+b%20c&q=%2f&empty=")
    assert got.body == body
    headers = {k.lower(): v for k, v in got.headers}
    assert headers["content-type"] == "application/octet-stream"
    assert headers["authorization"] == "Bearer abc"
    assert headers["x-custom"] == "one"
    assert headers["x-forwarded-host"] == "hooks.example"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["host"] == f"127.0.0.1:{n8n.port}"
    assert headers["x-sidecar-job-id"] == job_id
    assert headers["x-sidecar-attempt"] == "1"
    assert headers["idempotency-key"] == job_id
    assert headers["content-length"] == str(len(body))
    assert not {"user-agent", "accept-encoding"} & set(headers)


def test_delivered_job_is_finished_in_rqs_terms(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/done", json={"n": 1})

    worker = procs.worker(*BURST, **queue_env)
    assert worker.wait(20) == 0, worker.output()

    job = fetch(rdb, job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.ended_at is not None
    assert counts(rdb) == {"queued": 0, "started": 0, "scheduled": 0, "finished": 1, "failed": 0}
    assert rdb.exists(f"sidecar:delivered:{job_id}")
    assert rdb.zcard(f"sidecar:locks:{INBOUND}") == 0
    assert dead_letters(rdb) == []
    assert len(received_for(n8n, job_id)) == 1


def test_senders_idempotency_key_is_kept(
    queue_gateway: Gateway, n8n: FakeN8n, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/k", headers={"Idempotency-Key": "sender-42"})

    assert procs.worker(*BURST, **queue_env).wait(20) == 0

    (got,) = webhooks(n8n)
    assert got.header("Idempotency-Key") == "sender-42"
    assert got.header("X-Sidecar-Job-Id") == job_id


def test_a_delivered_job_is_not_delivered_again(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/once")
    assert procs.worker(*BURST, **queue_env).wait(20) == 0
    assert len(webhooks(n8n)) == 1

    # As if the job were put back by hand (or a worker died between n8n's answer and the
    # bookkeeping): a re-run must see the delivered marker and not call n8n again.
    rdb.hset(f"rq:job:{job_id}", "status", "queued")
    rdb.rpush(f"rq:queue:{INBOUND}", job_id)
    worker = procs.worker(*BURST, **queue_env)
    assert worker.wait(20) == 0, worker.output()

    assert len(webhooks(n8n)) == 1
    assert status(rdb, job_id) == "finished"
    assert counts(rdb)["queued"] == 0
    assert dead_letters(rdb) == []


def test_deliveries_run_concurrently_up_to_concurrency(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    answers = threading.Event()
    n8n.script("/webhook/slow", [Reply(200, hold=answers)])
    ids = [enqueue(queue_gateway, "/webhook/slow", data=str(n)) for n in range(6)]

    worker = procs.worker(*BURST, "--concurrency", "3", **queue_env)
    wait_webhooks(n8n, 3, timeout=20)  # three at once, while n8n answers none of them
    assert len(webhooks(n8n)) == 3  # the other three wait for a free slot
    answers.set()
    assert worker.wait(30) == 0, worker.output()

    assert sorted(r.header("X-Sidecar-Job-Id") for r in webhooks(n8n)) == sorted(ids)
    assert counts(rdb)["finished"] == 6


def test_worker_without_queue_option_serves_every_queue(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    job_id = enqueue(queue_gateway, "/webhook/echo/all")

    worker = procs.worker("--burst", **queue_env)
    assert worker.wait(20) == 0, worker.output()

    assert received_for(n8n, job_id)
    assert status(rdb, job_id) == "finished"


def test_a_long_running_worker_picks_up_new_jobs(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    worker = procs.worker("--queue", "webhooks:inbound", **queue_env)
    first = enqueue(queue_gateway, "/webhook/echo/1")
    wait_webhooks(n8n, 1, timeout=10)
    second = enqueue(queue_gateway, "/webhook/echo/2")
    wait_webhooks(n8n, 2, timeout=10)

    assert worker.alive
    assert worker.stop() == 0, worker.output()
    assert [r.header("X-Sidecar-Job-Id") for r in webhooks(n8n)] == [first, second]
    assert status(rdb, first) == status(rdb, second) == "finished"


def test_a_plain_rq_worker_can_deliver_the_jobs_too(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, queue_env
) -> None:
    delivered = enqueue(queue_gateway, "/webhook/echo/plain", data=b"rq")
    refused = enqueue(queue_gateway, "/webhook/never-registered")

    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "-S", JSON_SERIALIZER]
    command += ["--url", str(queue_env["REDIS_URL"]), INBOUND]
    env = sidecar_env(**queue_env)
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert [(r.path, r.body) for r in received_for(n8n, delivered)] == [
        ("/webhook/echo/plain", b"rq")
    ]
    assert fetch(rdb, delivered).get_status() == JobStatus.FINISHED
    assert fetch(rdb, refused).get_status() == JobStatus.FAILED


def test_a_paused_queue_is_not_delivered_until_resumed(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    set_paused(rdb, INBOUND, True)  # what POST /v1/queues/{queue}/pause does
    job_id = enqueue(queue_gateway, "/webhook/echo/paused")
    first_probe = probe_on_another_queue(rdb, queue_env, job_id, 1)

    worker = procs.worker("--queue", "webhooks:inbound", "--queue", PROBE_QUEUE, **queue_env)
    # The worker is alive and polling: it delivers probes on an unpaused queue, the second
    # one queued only after the first was delivered (so at least one later poll happened).
    wait_until(lambda: received_for(n8n, first_probe), timeout=20, what="the first probe")
    second_probe = probe_on_another_queue(rdb, queue_env, job_id, 2)
    wait_until(lambda: received_for(n8n, second_probe), timeout=20, what="the second probe")
    assert received_for(n8n, job_id) == []
    assert status(rdb, job_id) == "queued"

    set_paused(rdb, INBOUND, False)
    wait_until(lambda: received_for(n8n, job_id), timeout=20, what="the resumed job")
    assert worker.stop() == 0, worker.output()


PROBE_QUEUE = "telegram:command"


def probe_on_another_queue(
    rdb: redis.Redis, queue_env: dict[str, object], like: str, number: int
) -> str:
    """A copy of job `like`'s webhook, to /webhook/echo/probe-{number}, on PROBE_QUEUE."""
    payload = {**fetch(rdb, like).args[0], "path": f"/webhook/echo/probe-{number}"}
    settings = load_settings(_env_file=None, **{k: str(v) for k, v in queue_env.items()})
    return enqueue_payload(rdb, settings, resolve(settings.queue_prefix, PROBE_QUEUE), payload)


def test_a_burst_worker_does_not_wait_for_a_paused_queue(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    set_paused(rdb, INBOUND, True)
    job_id = enqueue(queue_gateway, "/webhook/echo/paused")

    worker = procs.worker(*BURST, **queue_env)

    assert worker.wait(10) == 0, worker.output()
    assert webhooks(n8n) == []
    assert status(rdb, job_id) == "queued"
