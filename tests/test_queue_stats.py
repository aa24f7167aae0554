"""Delivery statistics and queue gauges, shared through real Redis."""

from __future__ import annotations

import pytest
import redis

from sidecar.app import create_app
from sidecar.queues.stats import queue_metrics, record
from sidecar.settings import load_settings

Q = "flrts:tasks:create"


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def app(n8n, redis_url: str):
    return create_app(
        load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_MODE="queue",
            SIDECAR_ADMIN_TOKENS="viewer:v",
        )
    )


def test_two_workers_add_up(client: redis.Redis) -> None:
    for durations, failed in (([10.0] * 50, 0), ([20.0] * 45 + [100.0] * 5, 3)):
        with client.pipeline() as pipe:  # as two worker processes would, each in its pipeline
            record(pipe, Q, durations, failed)
            pipe.execute()
    row = queue_metrics(client, [Q])[Q]
    assert (row["processed"], row["failed"]) == (100, 3)
    assert row["avgProcessingTime"] == pytest.approx(19.0)  # (50x10 + 45x20 + 5x100) / 100
    assert row["p95ProcessingTime"] == 20.0
    assert queue_metrics(client, ["flrts:tasks:update"])["flrts:tasks:update"]["processed"] == 0


def test_samples_are_capped(client: redis.Redis) -> None:
    with client.pipeline() as pipe:
        record(pipe, Q, [1.0] * 1500, 0)
        pipe.execute()
    assert client.llen(f"sidecar:durations:{Q}") == 1000
    assert queue_metrics(client, [Q])[Q]["processed"] == 1500


def test_endpoint_lists_every_queue(app, client: redis.Redis) -> None:
    with client.pipeline() as pipe:
        record(pipe, Q, [5.0, 7.0], 1)
        pipe.execute()
    body = (
        app.test_client()
        .get("/v1/metrics/queues", headers={"Authorization": "Bearer v"})
        .get_json()
    )
    rows = {row["name"]: row for row in body["queues"]}
    assert len(rows) == 10 and body["windowMinutes"] == 15
    assert rows[Q] == {
        "name": Q,
        "processed": 2,
        "failed": 1,
        "avgProcessingTime": 6.0,
        "p95ProcessingTime": 7.0,
    }
    bad = app.test_client().get(
        "/v1/metrics/queues?minutes=0", headers={"Authorization": "Bearer v"}
    )
    assert bad.status_code == 400


def test_prometheus_metrics_include_queue_gauges(app) -> None:
    web = app.test_client()
    web.post("/webhook/one", data=b"1")
    web.post("/webhook/two", data=b"2")
    text = web.get("/metrics").get_data(as_text=True)
    assert 'sidecar_queue_jobs{queue="flrts:webhooks:inbound",state="waiting"} 2.0' in text
    assert 'sidecar_queue_oldest_waiting_seconds{queue="flrts:webhooks:inbound"}' in text
    assert "sidecar_workers_live 0.0" in text
    assert 'sidecar_webhooks_enqueued_total{queue="flrts:webhooks:inbound"}' in text


def test_metrics_still_answer_while_redis_is_down(n8n, redis_server) -> None:
    app = create_app(
        load_settings(
            _env_file=None, N8N_URL=n8n.url, REDIS_URL=redis_server.url, REDIS_MAX_RETRIES=0
        )
    )
    redis_server.kill()
    try:
        response = app.test_client().get("/metrics")
    finally:
        redis_server.restart()
    assert response.status_code == 200
    assert "sidecar_http_requests_total" in response.get_data(as_text=True)
    assert "sidecar_queue_jobs" not in response.get_data(as_text=True)
