"""Honest backpressure (issue 14 item 3) and single mode while the n8n circuit is open
(item 4): real gateway processes, real Redis, fake n8n."""

from __future__ import annotations

import redis
import requests
from support.queues import INBOUND, counts, webhooks

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.capture import CapturedRequest
from sidecar.errors import BacklogFull
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until
from sidecar.queues.backpressure import (
    MAX_RETRY_AFTER,
    drain_key,
    drain_rate,
    refused_counts,
    retry_after,
)
from sidecar.queues.intake import Intake
from sidecar.settings import load_settings


def post(url: str, n: int) -> requests.Response:
    return requests.post(f"{url}/webhook/respond-immediately", json={"n": n}, timeout=10)


def test_a_full_queue_answers_503_with_retry_after_and_stores_nothing(
    procs, queue_env, rdb: redis.Redis
) -> None:
    gateway = procs.gateway(**queue_env, SIDECAR_MAX_WAITING=3)
    answers = [post(gateway.url, n) for n in range(5)]

    assert [a.status_code for a in answers] == [202, 202, 202, 503, 503]
    refused = answers[3]
    assert refused.json()["error"] == "backlog_full"
    assert int(refused.headers["Retry-After"]) == refused.json()["retryAfter"]
    assert int(refused.headers["Retry-After"]) == MAX_RETRY_AFTER  # nothing drains yet
    assert counts(rdb)["queued"] == 3
    assert len(rdb.keys("rq:job:*")) == 3  # nothing stored for the refused ones
    assert refused_counts(rdb, DEFAULT_KEYS) == {INBOUND: 2}
    metrics = requests.get(f"{gateway.url}/metrics", timeout=10).text
    assert f'sidecar_backlog_full_total{{queue="{INBOUND}"}} 2.0' in metrics


def test_retry_after_is_the_waiting_jobs_over_the_measured_drain_rate(rdb: redis.Redis) -> None:
    now = 1_000_000.0  # a bucket boundary
    for seconds_ago in (1, 2, 3, 4):  # 50 taken in each of the last four seconds
        rdb.set(drain_key(INBOUND, now - seconds_ago), 50)
    rate = drain_rate(rdb, INBOUND, now)
    assert rate == 50.0  # 200 jobs over the 4 s since draining began, not over 30 s
    assert retry_after(1000, rate) == 20
    assert retry_after(1, rate) == 1  # clamped below
    assert retry_after(74, rate) == 1 and retry_after(76, rate) == 2  # rounded
    assert retry_after(10**9, rate) == MAX_RETRY_AFTER  # and above
    assert retry_after(10, 0.0) == MAX_RETRY_AFTER  # nothing drains (n8n down)


def test_redis_memory_near_its_maxmemory_refuses_webhooks(redis_url: str, rdb: redis.Redis) -> None:
    settings = load_settings(REDIS_URL=redis_url, SIDECAR_MAX_REDIS_MEMORY_PERCENT=0.01)
    intake = Intake(rdb, settings)
    captured = CapturedRequest("POST", "/webhook/x", "", [], b"{}", "127.0.0.1")
    previous = rdb.config_get("maxmemory")["maxmemory"]
    rdb.config_set("maxmemory", 1 << 30)  # used_memory is far over 0.01 % of 1 GiB
    try:
        try:
            intake.enqueue(captured)
        except BacklogFull as exc:
            assert exc.retry_after >= 1
        else:
            raise AssertionError("accepted although Redis memory is full")
    finally:
        rdb.config_set("maxmemory", previous)
    assert rdb.keys("rq:job:*") == []


def test_single_mode_queues_without_trying_n8n_while_the_circuit_is_open(
    procs, redis_url: str, n8n: FakeN8n, rdb: redis.Redis
) -> None:
    gateway = procs.gateway(
        SIDECAR_MODE="single",
        REDIS_URL=redis_url,
        N8N_URL=n8n.url,
        SIDECAR_MONITOR_INTERVAL_SECONDS=3600,
    )
    assert post(gateway.url, 0).status_code == 200  # circuit closed: passthrough

    rdb.hset(DEFAULT_KEYS.n8n_circuit, mapping={"openedAt": "1", "reason": "refused"})
    numbers = iter(range(1, 10_000))  # the gateway re-reads the circuit within a second

    def queued() -> tuple[int, requests.Response] | None:
        n = next(numbers)
        answer = post(gateway.url, n)
        return (n, answer) if answer.status_code == 202 else None

    n, answer = wait_until(queued, timeout=10, what="a queued webhook")
    assert answer.json()["queue"] == INBOUND
    assert counts(rdb)["queued"] == 1
    assert n not in [r.json()["n"] for r in webhooks(n8n)]  # n8n never got it


def test_a_full_typed_queue_answers_503_too(redis_url: str, rdb: redis.Redis) -> None:
    """Typed jobs go through the same storing path: SIDECAR_MAX_WAITING holds for them."""
    from sidecar.app import create_app

    settings = load_settings(
        N8N_URL="http://127.0.0.1:9",
        REDIS_URL=redis_url,
        SIDECAR_MAX_WAITING=1,
        SIDECAR_ADMIN_TOKENS="operator:o-token",
    )
    client = create_app(settings).test_client()
    task = {"userId": 42, "title": "Replace pump seal", "dueDate": "2030-01-31"}

    def post_task():
        headers = {"Authorization": "Bearer o-token"}
        return client.post("/v1/jobs/tasks:create", json=task, headers=headers)

    first, second = post_task(), post_task()

    assert first.status_code == 202
    assert second.status_code == 503, second.get_json()
    assert second.get_json()["error"] == "backlog_full"
    assert second.headers["Retry-After"]
    assert rdb.llen("rq:queue:flrts:tasks:create") == 1
