"""Typed processors: each operation's call to n8n, its follow-ups, delivery, and `run`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.queues.intake import Intake
from sidecar.typed.follow_ups import FollowUp, follow_ups
from sidecar.typed.models import validate
from sidecar.typed.requests import DEFAULT_PATHS, RUN_FUNC, is_typed, parse_result, request_for
from sidecar.upstream import Upstream
from sidecar.worker import typed_jobs
from sidecar.worker.typed_jobs import deliver

SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
MESSAGE = {"message_id": 5, "date": 1700000000, "chat": {"id": 77, "type": "private"}}
TASK = {"userId": 42, "title": "Replace pump seal", "dueDate": "2030-01-31"}
JOBS: dict[str, dict] = {
    "tasks:create": TASK,
    "tasks:update": {"userId": 42, "taskId": 7, "changes": {"status": "Closed"}},
    "tasks:sync": {"projectId": 3},
    "openproject:sync": {"resource": "projects", "userId": 42},
    "openproject:webhook": {"action": "work_package:updated", "work_package": {"id": 7}},
    "telegram:outbound": {"chatId": 77, "text": "hi", "parseMode": "HTML"},
    "telegram:command": {"update_id": 3, "message": {**MESSAGE, "text": "/list"}},
    "reminders:send": {"userId": 42, "message": "Check the pump", "chatId": 77},
}
API = "/webhook/openproject-api"
EXPECTED = {  # operation → (n8n path, "operation" in the body for openproject-api)
    "tasks:create": (API, "create_work_package"),
    "tasks:update": (API, "update_work_package"),
    "tasks:sync": (API, "sync_work_packages"),
    "openproject:sync": (API, "sync_projects"),
    "openproject:webhook": ("/webhook/openproject-events", None),
    "telegram:outbound": ("/webhook/telegram-outbound", None),
    "telegram:command": ("/webhook/telegram-command", None),
    "reminders:send": ("/webhook/send-reminder", None),
}


@pytest.mark.parametrize("operation", sorted(JOBS))
def test_each_operation_posts_json_to_its_n8n_webhook(operation: str) -> None:
    data = validate(operation, JOBS[operation])
    request = request_for(operation, data)
    assert request is not None
    path, n8n_operation = EXPECTED[operation]
    assert (request.method, request.path, request.query) == ("POST", path, "")
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Sidecar-Operation") == operation
    assert is_typed({"operation": operation, "data": data})
    assert not is_typed(request.to_payload())  # a captured webhook's payload
    body = json.loads(request.body)
    if n8n_operation is None:  # sent as validated, the shape n8n's workflow expects
        assert body == data
    else:  # as the seed: {"operation": "create_work_package", "data": {title, …}}
        assert body == {"operation": n8n_operation, "data": data}


def test_reminders_schedule_makes_no_call_but_a_reminder_due_at_remind_at() -> None:
    data = validate(
        "reminders:schedule",
        {"userId": 42, "remindAt": SOON.isoformat(), "message": "Pump", "taskId": 7},
    )
    assert request_for("reminders:schedule", data) is None
    (reminder,) = follow_ups("reminders:schedule", data, "done", None, job_id="job1")
    assert reminder.operation == "reminders:send"
    assert reminder.run_at == SOON
    assert reminder.payload == {
        "userId": "42",
        "message": "Pump",
        "remindAt": data["remindAt"],
        "taskId": "7",
        "reminderId": "job1",
    }
    assert validate("reminders:send", reminder.payload) == reminder.payload
    (note,) = follow_ups("reminders:schedule", data, "dead", {"error": "down"})
    assert (note.operation, note.payload["message"]) == (
        "notify",
        "Failed to schedule reminder: down",
    )


def test_notify_requests_and_path_overrides() -> None:
    payload = {"userId": "42", "message": "m", "operation": "tasks:create", "status": "completed"}
    request = request_for("notify", payload)
    assert request is not None
    assert (request.path, json.loads(request.body)) == ("/webhook/notify-user", payload)
    assert request.header("X-Sidecar-Operation") == "notify"
    paths = {"tasks:create": "/webhook/op?tenant=a", "notify": "/webhook/tell"}
    request = request_for("tasks:create", validate("tasks:create", TASK), paths)
    assert request is not None
    assert (request.path, request.query) == ("/webhook/op", "tenant=a")
    notify = request_for("notify", {"userId": "1", "message": "m"}, paths)
    assert notify is not None and notify.path == "/webhook/tell"
    other = request_for("tasks:update", validate("tasks:update", JOBS["tasks:update"]), paths)
    assert other is not None and other.path == DEFAULT_PATHS["tasks:update"]
    with pytest.raises(ValueError, match="must start with"):
        request_for("tasks:create", TASK, {"tasks:create": "webhook/x"})
    with pytest.raises(KeyError):  # captured webhooks have no processor
        request_for("webhooks:inbound", {})


def test_task_created_notifies_with_n8ns_subject_or_the_title() -> None:
    data = validate("tasks:create", TASK)
    (note,) = follow_ups("tasks:create", data, "done", {"id": 9, "subject": "Pump seal"}, "j1")
    assert note == FollowUp(
        "notify",
        {
            "userId": "42",
            "message": "Task created: Pump seal",
            "jobId": "j1",
            "operation": "tasks:create",
            "status": "completed",
        },
    )
    (fallback,) = follow_ups("tasks:create", data, "done", None)
    assert fallback.payload["message"] == "Task created: Replace pump seal"
    assert "jobId" not in fallback.payload
    (odd,) = follow_ups("tasks:create", data, "done", {"subject": "Pump\x00\n seal" + "x" * 500})
    assert odd.payload["message"] == "Task created: Pump seal" + "x" * 246  # clean, ≤ 255


def test_task_failure_notifies_with_the_error() -> None:
    data = validate("tasks:create", TASK)
    (note,) = follow_ups("tasks:create", data, "dead", {"error": "n8n answered HTTP 404"}, "j1")
    assert note.payload["message"] == "Failed to create task: n8n answered HTTP 404"
    assert note.payload["status"] == "failed"
    (long,) = follow_ups("tasks:create", data, "dead", {"error": "x" * 5000})
    assert len(long.payload["message"]) < 400
    (unknown,) = follow_ups("tasks:create", data, "dead", None)
    assert unknown.payload["message"] == "Failed to create task: unknown error"


@pytest.mark.parametrize(
    ("operation", "done", "dead"),
    [
        ("tasks:update", "Task updated: #7", "Failed to update task: x"),
        ("tasks:sync", None, None),  # no userId: nobody to tell
        (
            "openproject:sync",
            "OpenProject sync finished: projects",
            "Failed to sync OpenProject: x",
        ),
        ("reminders:send", None, "Failed to send reminder: x"),
        ("telegram:outbound", None, None),
        ("telegram:command", None, None),
        ("openproject:webhook", None, None),
    ],
)
def test_notifications_of_each_operation(
    operation: str, done: str | None, dead: str | None
) -> None:
    data = validate(operation, JOBS[operation])
    for outcome, expected, result in (("done", done, None), ("dead", dead, {"error": "x"})):
        notes = [f.payload["message"] for f in follow_ups(operation, data, outcome, result)]
        assert notes == ([expected] if expected else []), (operation, outcome)


def test_tasks_sync_with_a_user_notifies_and_update_uses_the_new_title() -> None:
    data = validate("tasks:sync", {"userId": 1})
    assert [f.payload["message"] for f in follow_ups("tasks:sync", data, "done")] == [
        "Task sync finished"
    ]
    update = validate("tasks:update", {"userId": 1, "taskId": 7, "changes": {"title": "New"}})
    (note,) = follow_ups("tasks:update", update, "done")
    assert note.payload["message"] == "Task updated: New"


# --- delivery against a real HTTP server ---


@pytest.fixture
def upstream(n8n: FakeN8n) -> Upstream:
    return Upstream(n8n.url, 5)


def test_deliver_returns_n8ns_json_answer(n8n: FakeN8n, upstream: Upstream) -> None:
    n8n.script("/webhook/openproject-api", [Reply(200, body=[{"id": 9, "subject": "Pump"}])])
    request = request_for("tasks:create", validate("tasks:create", TASK))
    assert request is not None
    outcome, result = deliver(upstream, "job-1", request, attempt=2)
    assert (outcome.kind, outcome.status, result) == ("done", 200, {"id": 9, "subject": "Pump"})
    (got,) = n8n.received
    assert got.header("X-Sidecar-Job-Id") == "job-1"
    assert got.header("X-Sidecar-Attempt") == "2"
    assert got.header("Idempotency-Key") == "job-1"
    assert got.header("X-Sidecar-Operation") == "tasks:create"
    assert got.json()["operation"] == "create_work_package"
    for plain in (b"Workflow was started", b"[]", b"[1]", b"{"):  # answers without a result
        assert parse_result(plain) is None


@pytest.mark.parametrize(
    ("reply", "kind"),
    [(Reply(500, body="oops"), "retry"), (Reply(429), "retry"), (Reply(400, body="no"), "dead")],
)
def test_deliver_classifies_failures(n8n: FakeN8n, upstream: Upstream, reply, kind) -> None:
    n8n.script("/webhook/telegram-outbound", [reply])
    request = request_for(
        "telegram:outbound", validate("telegram:outbound", JOBS["telegram:outbound"])
    )
    assert request is not None
    outcome, result = deliver(upstream, "j", request, attempt=1)
    assert (outcome.kind, result) == (kind, None)
    assert f"HTTP {reply.status}" in outcome.error


def test_deliver_when_n8n_is_down_is_held(upstream: Upstream, n8n: FakeN8n) -> None:
    n8n.stop()
    try:
        request = request_for("tasks:sync", {})
        assert request is not None
        outcome, result = deliver(upstream, "j", request, attempt=1)
        assert (outcome.kind, result) == ("hold", None)  # never reached: no attempt spent
    finally:
        n8n.start()


# --- run(): the RQ job function, under a plain RQ worker ---


@pytest.fixture
def rq_env(monkeypatch, n8n: FakeN8n, redis_url: str) -> redis.Redis:
    for key, value in {"N8N_URL": n8n.url, "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir("/")  # no .env of the checkout
    typed_jobs._runtime.cache_clear()
    client = redis.Redis.from_url(redis_url)
    yield client
    typed_jobs._runtime.cache_clear()
    client.close()


def run_job(client: redis.Redis, operation: str, data: dict) -> Job:
    queue = Queue(f"flrts:{operation}", connection=client, serializer=JSONSerializer)
    job = queue.enqueue(RUN_FUNC, {"operation": operation, "data": data})
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
    return Job.fetch(job.id, connection=client, serializer=JSONSerializer)


def test_run_delivers_and_notifies(rq_env: redis.Redis, n8n: FakeN8n) -> None:
    n8n.script("/webhook/openproject-api", [Reply(200, body={"id": 9, "subject": "Seal"})])
    n8n.script("/webhook/notify-user", [Reply(200, body={"ok": True})])
    job = run_job(rq_env, "tasks:create", validate("tasks:create", TASK))
    assert job.get_status() == "finished"
    assert job.return_value() == {"n8nStatus": 200, "result": {"id": 9, "subject": "Seal"}}
    created, notified = n8n.wait_for(2)
    assert created.path == "/webhook/openproject-api"
    assert notified.path == "/webhook/notify-user"
    assert notified.json() == {
        "userId": "42",
        "message": "Task created: Seal",
        "jobId": job.id,
        "operation": "tasks:create",
        "status": "completed",
    }


def test_run_failure_notifies_and_fails_the_job(rq_env: redis.Redis, n8n: FakeN8n) -> None:
    n8n.script("/webhook/notify-user", [Reply(200)])
    job = run_job(rq_env, "tasks:create", validate("tasks:create", TASK))  # 404: not registered
    assert job.get_status() == "failed"
    notified = n8n.wait_for(2)[1]
    assert notified.json()["message"].startswith("Failed to create task: n8n answered HTTP 404")


def test_run_schedules_the_reminder(rq_env: redis.Redis, n8n: FakeN8n) -> None:
    data = validate(
        "reminders:schedule", {"userId": 1, "remindAt": SOON.isoformat(), "message": "m"}
    )
    job = run_job(rq_env, "reminders:schedule", data)
    assert job.get_status() == "finished"
    assert n8n.received == []
    ((reminder_id, score),) = rq_env.zrange(
        "rq:scheduled:flrts:reminders:send", 0, -1, withscores=True
    )
    assert score == SOON.timestamp()
    reminder = Job.fetch(reminder_id.decode(), connection=rq_env, serializer=JSONSerializer)
    assert reminder.func_name == RUN_FUNC
    assert reminder.get_status() == "scheduled"
    assert reminder.args[0]["operation"] == "reminders:send"
    assert reminder.args[0]["data"]["reminderId"] == job.id
    # a re-run of the same schedule job does not schedule the reminder twice
    follow = follow_ups("reminders:schedule", data, "done", None, job.id)
    settings, _ = typed_jobs._runtime()
    assert Intake(rq_env, settings).enqueue_follow_up(follow[0], job.id) == reminder.id
    assert rq_env.zcard("rq:scheduled:flrts:reminders:send") == 1
