"""Queue mode intake: a real gateway stores /webhook/* as ordinary RQ jobs and answers 202.

Nothing here runs a worker: n8n must see nothing of a queued webhook until one delivers it.
"""

from __future__ import annotations

import pytest
import redis
import requests
from rq import Queue
from rq.job import JobStatus
from support.queues import INBOUND, counts, fetch, wait_webhooks, webhooks
from support.raw_http import raw_request

from sidecar.capture import CapturedRequest
from sidecar.harness.n8n_standin import N8N_PREFIXES, FakeN8n
from sidecar.harness.sidecar_processes import Gateway

PASSTHROUGH_PREFIXES = [p for p in N8N_PREFIXES if p != "webhook"]  # not queued


def test_webhook_is_answered_202_and_stored_as_an_rq_job(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    response = requests.post(f"{queue_gateway.url}/webhook/echo/new", json={"a": 1}, timeout=10)

    assert response.status_code == 202
    body = response.json()
    assert body == {"status": "queued", "jobId": body["jobId"], "queue": INBOUND}
    assert response.headers["X-Sidecar-Job-Id"] == body["jobId"]
    assert response.headers["X-Sidecar-Mode"] == "queue"
    job = fetch(rdb, body["jobId"])
    assert job.get_status() == JobStatus.QUEUED
    assert job.origin == INBOUND
    assert job.func_name == "sidecar.worker.delivery.deliver"
    assert job.description == "POST /webhook/echo/new"
    assert counts(rdb) == {"queued": 1, "started": 0, "scheduled": 0, "finished": 0, "failed": 0}
    assert INBOUND in [q.name for q in Queue.all(connection=rdb)]
    assert webhooks(n8n) == []


def test_stored_payload_is_the_request_exactly(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    body = bytes(range(256)) * 4 + FakeN8n.BINARY[:1000]
    headers = {
        "Host": "public.example",
        "Content-Type": "application/octet-stream",
        "X-Telegram-Bot-Api-Secret-Token": "s3cr3t",
    }
    target = "/webhook/echo/caf%C3%A9/a%3bb?x=%20y&x=2&flag"
    response = raw_request(queue_gateway.port, "PATCH", target, body, headers)
    job_id = response.getheader("X-Sidecar-Job-Id")

    assert response.status == 202
    captured = CapturedRequest.from_payload(fetch(rdb, job_id).args[0])
    assert captured.method == "PATCH"
    assert (captured.path, captured.query) == ("/webhook/echo/caf%C3%A9/a%3bb", "x=%20y&x=2&flag")
    assert captured.body == body
    assert captured.header("X-Telegram-Bot-Api-Secret-Token") == "s3cr3t"
    assert captured.header("Content-Type") == "application/octet-stream"
    assert captured.header("X-Forwarded-Host") == "public.example"
    assert captured.header("X-Forwarded-For") == "127.0.0.1"
    assert captured.header("Host") is None
    assert webhooks(n8n) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_every_method_of_a_production_webhook_is_queued(
    queue_gateway: Gateway, rdb: redis.Redis, method: str
) -> None:
    response = requests.request(method, f"{queue_gateway.url}/webhook/echo/m", timeout=10)

    assert response.status_code == 202
    job = fetch(rdb, response.headers["X-Sidecar-Job-Id"])
    assert job.args[0]["method"] == method


def test_cors_preflight_passes_through_and_is_never_a_job(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    response = raw_request(queue_gateway.port, "OPTIONS", "/webhook/no-such-hook", headers=headers)

    assert response.status == 204  # n8n's own answer to a preflight
    assert response.getheader("X-Sidecar-Mode") == "queue"
    assert [r.method for r in n8n.wait_for(1)] == ["OPTIONS"]
    assert rdb.keys("rq:job:*") == []


def test_jobs_wait_in_arrival_order(queue_gateway: Gateway, rdb: redis.Redis) -> None:
    ids = [
        requests.post(f"{queue_gateway.url}/webhook/echo/{n}", timeout=10).json()["jobId"]
        for n in range(5)
    ]

    assert len(set(ids)) == 5
    assert [job.id for job in Queue(INBOUND, connection=rdb).jobs] == ids
    assert counts(rdb)["queued"] == 5


@pytest.mark.parametrize("prefix", PASSTHROUGH_PREFIXES)
def test_other_n8n_paths_still_pass_through_in_queue_mode(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, prefix: str
) -> None:
    response = requests.post(
        f"{queue_gateway.url}/{prefix}/echo/x?signature=abc", data=b"hi", timeout=10
    )

    assert response.status_code == 200
    assert response.json()["path"] == f"/{prefix}/echo/x"
    assert response.headers["X-Sidecar-Mode"] == "queue"
    (received,) = wait_webhooks(n8n, 1)
    assert (received.path, received.query, received.body) == (
        f"/{prefix}/echo/x",
        "signature=abc",
        b"hi",
    )
    assert counts(rdb)["queued"] == 0


def test_n8ns_own_answer_comes_back_for_a_passed_through_path(
    queue_gateway: Gateway, n8n: FakeN8n
) -> None:
    response = requests.get(f"{queue_gateway.url}/webhook-test/not-registered", timeout=10)

    assert response.status_code == 404
    assert "is not registered" in response.json()["message"]
