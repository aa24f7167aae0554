"""Ingress fallbacks: an accepted webhook is never lost when n8n or Redis goes away.

queue mode, Redis down        -> passthrough to n8n
queue mode, Redis and n8n down -> 503 + Retry-After (the sender retries)
single mode, n8n not reached (refused), Redis up -> queued 202
single mode, n8n got the request (its own 502-504, a timeout, a dropped connection)
            -> the sender gets that answer, nothing is queued (no second execution)
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import redis
import requests
from support.queues import (
    INBOUND,
    counts,
    enqueue,
    fetch,
    received_for,
    status,
    wait_webhooks,
    webhooks,
)

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.redis_server import RedisServer
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until

BIG_BODY = 32 * 1024 * 1024  # far more than the socket buffers hold: the write fails


@pytest.fixture(scope="module")
def single_gateway(redis_server: RedisServer, fake_n8n: FakeN8n) -> Iterator[Gateway]:
    """`serve` in single mode with Redis configured; n8n may take 1 s to answer."""
    gateway = Gateway(
        SIDECAR_MODE="single",
        REDIS_URL=redis_server.url,
        N8N_URL=fake_n8n.url,
        SIDECAR_UPSTREAM_TIMEOUT_SECONDS=1,
        SIDECAR_MONITOR_INTERVAL_SECONDS=3600,
    )
    yield gateway
    gateway.stop()


@pytest.fixture
def n8n_down(n8n: FakeN8n) -> Iterator[FakeN8n]:
    """n8n stopped for the test (started again afterwards)."""
    n8n.stop()
    yield n8n
    n8n.start()


def assert_both_down_answer(response: requests.Response) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "service_unavailable"
    assert body["message"]


# --- queue mode ---


def test_queue_mode_passes_through_when_redis_is_down(
    queue_gateway: Gateway, n8n: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    redis_server.kill()

    response = requests.post(
        f"{queue_gateway.url}/webhook/echo/direct?a=1", data=b"body", timeout=10
    )

    assert response.status_code == 200
    assert response.json()["path"] == "/webhook/echo/direct"
    (received,) = wait_webhooks(n8n, 1)
    assert (received.path, received.query, received.body) == (
        "/webhook/echo/direct",
        "a=1",
        b"body",
    )
    assert received.header("X-Sidecar-Job-Id") is None


def test_queue_mode_gives_n8ns_own_answer_when_redis_is_down(
    queue_gateway: Gateway, n8n: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    redis_server.kill()

    response = requests.get(f"{queue_gateway.url}/webhook/never-registered", timeout=10)

    assert response.status_code == 404
    assert "is not registered" in response.json()["message"]


def test_queue_mode_answers_503_when_redis_and_n8n_are_down(
    queue_gateway: Gateway, n8n_down: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    redis_server.kill()

    response = requests.post(f"{queue_gateway.url}/webhook/echo/lost", data=b"x", timeout=10)

    assert_both_down_answer(response)


def test_queue_mode_answers_502_not_503_when_redis_is_down_and_n8n_drops_what_it_got(
    queue_gateway: Gateway, n8n: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    n8n.script("/webhook/crash", [Reply(drop=True)])
    redis_server.kill()

    response = requests.post(f"{queue_gateway.url}/webhook/crash", data=b"x", timeout=10)

    assert response.status_code == 502  # no Retry-After invitation: n8n may be running it
    assert "Retry-After" not in response.headers
    assert len(webhooks(n8n)) == 1


def test_queue_mode_queues_again_once_redis_is_back(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, redis_server: RedisServer
) -> None:
    redis_server.kill()
    assert requests.post(f"{queue_gateway.url}/webhook/echo/a", timeout=10).status_code == 200
    redis_server.start()
    # the gateway follows the shared mode again within a second (its mode cache is 0.5 s)
    wait_until(lambda: _mode_of(queue_gateway) == "queue", timeout=3.0, what="queue mode")

    job_id = enqueue(queue_gateway, "/webhook/echo/b")

    assert status(rdb, job_id) == "queued"
    assert [r.path for r in webhooks(n8n)] == ["/webhook/echo/a"]


def _mode_of(gateway: Gateway) -> str:
    return requests.get(f"{gateway.url}/healthz", timeout=10).headers["X-Sidecar-Mode"]


# --- single mode ---


def test_single_mode_passes_through_while_n8n_is_up(
    single_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    response = requests.post(f"{single_gateway.url}/webhook/echo/x", data=b"y", timeout=10)

    assert response.status_code == 200
    assert response.headers["X-Sidecar-Mode"] == "single"
    assert counts(rdb)["queued"] == 0


def test_a_cors_preflight_is_never_queued_when_n8n_is_down(
    single_gateway: Gateway, n8n_down: FakeN8n, rdb: redis.Redis
) -> None:
    response = requests.options(f"{single_gateway.url}/webhook/echo/later", timeout=10)

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unreachable"
    assert rdb.keys("rq:job:*") == []


def test_single_mode_queues_when_n8n_is_down_and_delivers_once_it_is_back(
    single_gateway: Gateway, n8n_down: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    response = requests.post(
        f"{single_gateway.url}/webhook/echo/later?q=1",
        data=b"\x00keep\xff",
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )

    assert response.status_code == 202
    body = response.json()
    assert body == {"status": "queued", "jobId": body["jobId"], "queue": INBOUND}
    assert response.headers["X-Sidecar-Job-Id"] == body["jobId"]
    assert response.headers["X-Sidecar-Mode"] == "single"
    assert fetch(rdb, body["jobId"]).origin == INBOUND

    n8n_down.start()
    worker = procs.worker("--burst", "--queue", "webhooks:inbound", **queue_env)
    assert worker.wait(20) == 0, worker.output()

    (delivered,) = received_for(n8n_down, body["jobId"])
    assert (delivered.path, delivered.query) == ("/webhook/echo/later", "q=1")
    assert delivered.body == b"\x00keep\xff"
    assert status(rdb, body["jobId"]) == "finished"


def test_single_mode_queues_what_n8n_reset_before_the_request_was_written(
    redis_server: RedisServer, resetting_server: str, rdb: redis.Redis, procs
) -> None:
    # n8n restarting: it resets the connection with the request unread, so it cannot run it
    gateway = procs.gateway(
        SIDECAR_MODE="single",
        REDIS_URL=redis_server.url,
        N8N_URL=resetting_server,
        SIDECAR_MAX_BODY_BYTES=BIG_BODY + 1,
        SIDECAR_MONITOR_INTERVAL_SECONDS=3600,
    )
    body = b"x" * BIG_BODY

    response = requests.post(f"{gateway.url}/webhook/echo/big", data=body, timeout=30)

    assert response.status_code == 202, response.text
    assert response.json()["queue"] == INBOUND
    (stored,) = fetch(rdb, response.json()["jobId"]).args
    assert (stored["path"], base64.b64decode(stored["body"])) == ("/webhook/echo/big", body)


@pytest.mark.parametrize("code", [502, 503, 504])
def test_single_mode_returns_n8ns_own_unavailable_answer_and_queues_nothing(
    single_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, code: int
) -> None:
    # e.g. a Respond-to-Webhook node answering 503 on purpose: the workflow already ran
    n8n.script("/webhook/overloaded", [Reply(code, body={"message": "busy on purpose"})])

    response = requests.post(f"{single_gateway.url}/webhook/overloaded", data=b"1", timeout=10)

    assert response.status_code == code
    assert response.json() == {"message": "busy on purpose"}
    assert counts(rdb)["queued"] == 0
    assert len(webhooks(n8n)) == 1


def test_single_mode_answers_504_when_n8n_times_out_and_queues_nothing(
    single_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    n8n.script("/webhook/stuck", [Reply(200, delay=3.0)])

    response = requests.post(f"{single_gateway.url}/webhook/stuck", timeout=10)

    assert response.status_code == 504
    assert response.json() == {"error": "upstream_timeout", "message": "n8n did not answer in time"}
    assert counts(rdb)["queued"] == 0
    assert len(webhooks(n8n)) == 1


def test_single_mode_answers_502_when_n8n_drops_the_request_it_read(
    single_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    n8n.script("/webhook/crash", [Reply(drop=True)])

    response = requests.post(f"{single_gateway.url}/webhook/crash", data=b"x", timeout=10)

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unreachable"
    assert counts(rdb)["queued"] == 0
    assert len(webhooks(n8n)) == 1


def test_single_mode_does_not_queue_other_answers(
    single_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    n8n.script("/webhook/broken", [Reply(500, body={"message": "workflow error"})])

    assert requests.post(f"{single_gateway.url}/webhook/broken", timeout=10).status_code == 500
    assert requests.get(f"{single_gateway.url}/webhook/nope", timeout=10).status_code == 404
    assert counts(rdb)["queued"] == 0


def test_single_mode_never_queues_test_webhooks(
    single_gateway: Gateway, n8n_down: FakeN8n, rdb: redis.Redis
) -> None:
    response = requests.post(f"{single_gateway.url}/webhook-test/echo/x", timeout=10)

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unreachable"
    assert counts(rdb)["queued"] == 0


def test_single_mode_gives_n8ns_answer_when_redis_is_down_too(
    single_gateway: Gateway, n8n: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    n8n.script("/webhook/overloaded", [Reply(503, body={"message": "n8n is busy"})])
    redis_server.kill()

    response = requests.post(f"{single_gateway.url}/webhook/overloaded", timeout=10)

    assert response.status_code == 503
    assert response.json() == {"message": "n8n is busy"}


def test_single_mode_answers_503_when_n8n_and_redis_are_down(
    single_gateway: Gateway, n8n_down: FakeN8n, redis_url: str, redis_server: RedisServer
) -> None:
    redis_server.kill()

    response = requests.post(f"{single_gateway.url}/webhook/echo/x", timeout=10)

    assert_both_down_answer(response)
