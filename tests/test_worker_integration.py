"""A real worker with everything wired: typed jobs and their follow-ups, encrypted payloads,
events, delivery statistics and live-worker counting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from cryptography.fernet import Fernet

from sidecar.app import create_app
from sidecar.backend.connection import connect
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.queue_names import all_queues
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import Worker as WorkerProcess
from sidecar.harness.waiting import wait_until
from sidecar.queues import deadletters
from sidecar.settings import load_settings
from sidecar.worker.registry import live_worker_count
from sidecar.worker.runner import Worker

AUTH = {"Authorization": "Bearer op"}


@pytest.fixture
def settings_for(n8n: FakeN8n, redis_url: str):
    def build(**extra: object):
        return load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_MODE="queue",
            SIDECAR_ADMIN_TOKENS="operator:op",
            SIDECAR_JOB_ATTEMPTS=2,
            SIDECAR_JOB_BACKOFF_SECONDS=0.05,
            **{k: str(v) for k, v in extra.items()},
        )

    return build


def run_worker(settings) -> None:
    """A real worker over every queue, in burst mode, in this process."""
    Worker(settings, connect(settings), all_queues("flrts"), concurrency=4, burst=True).run()


def bodies(n8n: FakeN8n, path: str) -> list[dict]:
    return [json.loads(r.body) for r in n8n.received if r.path == path]


def test_typed_task_reaches_n8n_and_the_user_is_notified(settings_for, n8n: FakeN8n) -> None:
    settings = settings_for()
    n8n.script("/webhook/openproject-api", [Reply(200, body={"id": 7, "subject": "Fix the pump"})])
    n8n.script("/webhook/notify-user", [Reply(200)])
    client = create_app(settings).test_client()
    task = {"userId": "42", "title": "Fix the pump"}
    job_id = client.post("/v1/jobs/tasks:create", json=task, headers=AUTH).get_json()["jobId"]
    run_worker(settings)
    (call,) = bodies(n8n, "/webhook/openproject-api")
    assert call["operation"] == "create_work_package" and call["data"]["title"] == "Fix the pump"
    (note,) = bodies(n8n, "/webhook/notify-user")
    assert note["userId"] == "42" and "Task created: Fix the pump" in note["message"]
    view = client.get(f"/v1/jobs/{job_id}", headers=AUTH).get_json()  # operator may view
    assert (view["status"], view["attempts"]) == ("finished", 1)


def test_failed_typed_job_notifies_the_failure(settings_for, n8n: FakeN8n) -> None:
    settings = settings_for()
    n8n.script("/webhook/openproject-api", [Reply(500, body={"message": "OpenProject down"})])
    n8n.script("/webhook/notify-user", [Reply(200)])
    client = create_app(settings).test_client()
    client.post("/v1/jobs/tasks:create", json={"userId": "42", "title": "T"}, headers=AUTH)
    run_worker(settings)
    assert len(bodies(n8n, "/webhook/openproject-api")) == 2  # both attempts
    (note,) = bodies(n8n, "/webhook/notify-user")  # only after the final one
    assert "Failed to create task" in note["message"]


def test_reminder_is_sent_when_due(settings_for, n8n: FakeN8n) -> None:
    settings = settings_for()
    n8n.script("/webhook/send-reminder", [Reply(200)])
    client = create_app(settings).test_client()
    due = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    reminder = {"userId": "42", "remindAt": due, "message": "Check the pump"}
    assert (
        client.post("/v1/jobs/reminders:schedule", json=reminder, headers=AUTH).status_code == 202
    )
    started = datetime.now(UTC)
    run_worker(settings)  # burst mode waits for the scheduled reminder
    (sent,) = [r for r in n8n.received if r.path == "/webhook/send-reminder"]
    assert json.loads(sent.body)["message"] == "Check the pump"
    assert datetime.fromtimestamp(sent.at, UTC) >= datetime.fromisoformat(due)
    assert (datetime.now(UTC) - started).total_seconds() < 10


def test_encrypted_webhook_is_delivered_byte_identical(settings_for, n8n: FakeN8n) -> None:
    settings = settings_for(SIDECAR_ENCRYPTION_KEY=Fernet.generate_key().decode())
    body = bytes(range(256)) * 8
    client = create_app(settings).test_client()
    assert client.post("/webhook/echo/secret", data=body).status_code == 202
    run_worker(settings)
    (received,) = [r for r in n8n.received if r.path == "/webhook/echo/secret"]
    assert received.body == body


def test_events_and_statistics_follow_real_deliveries(
    settings_for, n8n: FakeN8n, redis_url
) -> None:
    settings = settings_for()
    client = create_app(settings).test_client()
    for number in range(3):
        client.post("/webhook/echo/ok", data=str(number).encode())
    client.post("/webhook/not-registered", data=b"x")
    run_worker(settings)
    rdb = redis.Redis.from_url(redis_url)
    kinds = [f[b"type"].decode() for _, f in rdb.xrange("sidecar:events")]
    assert kinds.count("completed") == 3 and kinds.count("failed") == 1
    metrics = client.get("/v1/metrics/queues", headers=AUTH).get_json()
    (inbound,) = [q for q in metrics["queues"] if q["name"] == "flrts:webhooks:inbound"]
    assert (inbound["processed"], inbound["failed"]) == (4, 1)
    assert inbound["p95ProcessingTime"] > 0


def test_a_running_worker_counts_as_live(n8n: FakeN8n, redis_url: str) -> None:
    rdb = redis.Redis.from_url(redis_url)
    worker = WorkerProcess("--queue", "webhooks:inbound", N8N_URL=n8n.url, REDIS_URL=redis_url)
    try:
        wait_until(
            lambda: live_worker_count(rdb, DEFAULT_KEYS) == 1, timeout=10, what="worker check-in"
        )
    finally:
        assert worker.stop(timeout=20) == 0
    assert live_worker_count(rdb, DEFAULT_KEYS) == 0  # it checked out on SIGTERM


def test_a_dead_typed_job_replays_as_a_typed_job(settings_for, n8n: FakeN8n) -> None:
    settings = settings_for(SIDECAR_ENCRYPTION_KEY=Fernet.generate_key().decode())
    n8n.script("/webhook/telegram-outbound", [Reply(400), Reply(200)])
    client = create_app(settings).test_client()
    message = {"chatId": 5, "text": "hello"}
    job_id = client.post("/v1/jobs/telegram:outbound", json=message, headers=AUTH).get_json()[
        "jobId"
    ]
    run_worker(settings)  # 400: dead-lettered at once
    rdb = connect(settings)
    (listed,) = deadletters.list_entries(rdb, settings, None, 0, 10)[0]
    entry = deadletters.get_entry(rdb, settings, listed.id)  # listings carry no payload
    assert deadletters.opened(settings, entry)["data"]["text"] == "hello"
    deadletters.replay(rdb, settings, entry.id)
    run_worker(settings)
    sent = bodies(n8n, "/webhook/telegram-outbound")
    assert [s["text"] for s in sent] == ["hello", "hello"]
    assert rdb.hget(f"rq:job:{job_id}", "status") == b"finished"
