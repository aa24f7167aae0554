"""POST /v1/jobs/{queue} against real Redis: typed jobs stored as RQ jobs, every refusal."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from redis.client import Pipeline
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.app import create_app
from sidecar.crypto import PayloadCipher
from sidecar.errors import Duplicate
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until
from sidecar.http import jobs_api
from sidecar.queues.intake import Intake
from sidecar.settings import load_settings
from sidecar.typed.requests import RUN_FUNC

TOKENS = "viewer:v-token,operator:o-token,admin:a-token"
OPERATOR = {"Authorization": "Bearer o-token"}
TASK = {"userId": 42, "title": "Replace pump seal", "dueDate": "2030-01-31"}
TASKS_QUEUE = "flrts:tasks:create"


def make_app(**settings: object) -> Flask:
    app = create_app(load_settings(_env_file=None, SIDECAR_ADMIN_TOKENS=TOKENS, **settings))
    if "jobs_api" not in app.blueprints:  # until app.py registers it
        app.register_blueprint(jobs_api.blueprint)
    return app


@pytest.fixture
def app(n8n: FakeN8n, redis_url: str) -> Flask:
    return make_app(N8N_URL=n8n.url, REDIS_URL=redis_url, SIDECAR_MODE="queue")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def rdb(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def post(client: FlaskClient, queue: str, body: object, **headers: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/v1/jobs/{queue}",
        data=data,
        headers={**OPERATOR, "Content-Type": "application/json", **headers},
    )


def waiting(rdb: redis.Redis, queue: str = TASKS_QUEUE) -> list[str]:
    return [raw.decode() for raw in rdb.lrange(f"rq:queue:{queue}", 0, -1)]


def test_a_valid_job_is_queued_as_an_rq_job(client: FlaskClient, rdb: redis.Redis) -> None:
    response = post(client, "tasks:create", {**TASK, "title": " Replace\x00 pump seal "})
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"status": "queued", "jobId": body["jobId"], "queue": TASKS_QUEUE}
    assert response.headers["X-Sidecar-Job-Id"] == body["jobId"]
    assert response.headers["X-Sidecar-Mode"] == "queue"
    assert waiting(rdb) == [body["jobId"]]
    job = Job.fetch(body["jobId"], connection=rdb, serializer=JSONSerializer)
    assert job.func_name == RUN_FUNC
    assert job.origin == TASKS_QUEUE
    assert job.get_status() == "queued"
    assert job.description == "tasks:create"
    assert (job.result_ttl, job.failure_ttl) == (3600, 86400)  # the retention settings
    assert list(job.args) == [
        {
            "operation": "tasks:create",
            "data": {"userId": "42", "title": "Replace pump seal", "dueDate": "2030-01-31"},
        },
    ]


def test_the_queue_may_be_named_with_its_prefix(client: FlaskClient, rdb: redis.Redis) -> None:
    response = post(client, TASKS_QUEUE, TASK)
    assert response.status_code == 202
    assert waiting(rdb) == [response.get_json()["jobId"]]


def test_every_field_error_is_listed(client: FlaskClient, rdb: redis.Redis) -> None:
    response = post(client, "tasks:create", {"title": "x" * 300, "priority": "now", "extra": 1})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["message"] == "the tasks:create job is invalid: 4 field error(s)"
    fields = {f["field"]: f["message"] for f in body["fields"]}
    assert set(fields) == {"userId", "title", "priority", "extra"}
    assert fields["userId"] == "Field required"
    assert "255" in fields["title"]
    assert waiting(rdb) == []


def test_a_reminder_in_the_past_is_refused(client: FlaskClient) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {"userId": 1, "remindAt": past, "message": "m"}
    response = post(client, "reminders:schedule", body)
    assert response.status_code == 422
    assert response.get_json()["fields"] == [
        {"field": "remindAt", "message": "must be in the future", "type": "datetime_future"}
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe{}",
        b'{"userId": NaN, "title": "t"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_json_is_a_400(client: FlaskClient, raw: bytes) -> None:
    response = post(client, "tasks:create", raw)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


@pytest.mark.parametrize("body", [[TASK], "task", 42, None])
def test_a_body_that_is_not_an_object_is_refused(client: FlaskClient, body: object) -> None:
    response = post(client, "tasks:create", body)
    assert response.status_code == 422
    assert response.get_json()["fields"][0]["field"] == "body"


def test_a_huge_body_is_a_413(client: FlaskClient, rdb: redis.Redis) -> None:
    response = post(client, "tasks:create", {**TASK, "description": "x" * 2_000_000})
    assert response.status_code == 413
    assert waiting(rdb) == []


@pytest.mark.parametrize(
    "queue", ["tasks:delete", "webhooks:inbound", "flrts:webhooks:inbound", "dead-letter", "x"]
)
def test_unknown_and_untyped_queues_are_404(client: FlaskClient, queue: str) -> None:
    response = post(client, queue, TASK)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_roles(client: FlaskClient) -> None:
    url = "/v1/jobs/tasks:create"
    assert client.post(url, json=TASK).status_code == 401
    bad = client.post(url, json=TASK, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    viewer = client.post(url, json=TASK, headers={"Authorization": "Bearer v-token"})
    assert (viewer.status_code, viewer.get_json()["error"]) == (403, "forbidden")
    admin = client.post(url, json=TASK, headers={"Authorization": "Bearer a-token"})
    assert admin.status_code == 202
    unknown = client.post("/v1/jobs/nothing", json=TASK)
    assert unknown.status_code == 401  # no queue names are revealed without a token


def test_get_job_still_answers_next_to_post(client: FlaskClient) -> None:
    job_id = post(client, "tasks:create", TASK).get_json()["jobId"]
    response = client.get(f"/v1/jobs/{job_id}", headers=OPERATOR)
    assert response.status_code == 200


def test_idempotency_key_makes_repeats_duplicates(client: FlaskClient, rdb: redis.Redis) -> None:
    first = post(client, "tasks:create", TASK, **{"Idempotency-Key": "exec-1"})
    again = post(client, "tasks:create", TASK, **{"Idempotency-Key": "exec-1"})
    other = post(client, "tasks:create", TASK, **{"X-Idempotency-Key": "exec-2"})
    job_id = first.get_json()["jobId"]
    assert first.status_code == 202
    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate", "jobId": job_id})
    assert other.status_code == 202
    assert waiting(rdb) == [job_id, other.get_json()["jobId"]]


def test_an_idempotency_key_is_claimed_per_queue(redis_url: str, rdb: redis.Redis) -> None:
    intake = Intake(rdb, load_settings(_env_file=None, REDIS_URL=redis_url))
    first = intake.enqueue_typed("tasks:create", TASK, "k")
    other = intake.enqueue_typed("tasks:sync", TASK, "k")
    assert (first.queue, other.queue) == ("flrts:tasks:create", "flrts:tasks:sync")
    assert first.job_id != other.job_id
    with pytest.raises(Duplicate) as caught:
        intake.enqueue_typed("tasks:sync", TASK, "k")
    assert caught.value.job_id == other.job_id


def test_a_key_resent_after_the_window_is_a_new_job(n8n: FakeN8n, redis_url, rdb) -> None:
    client = make_app(
        N8N_URL=n8n.url, REDIS_URL=redis_url, SIDECAR_MODE="queue", SIDECAR_DEDUP_TTL_SECONDS=1
    ).test_client()
    first = post(client, "tasks:create", TASK, **{"Idempotency-Key": "exec-1"}).get_json()
    kept = rdb.hgetall(f"rq:job:{first['jobId']}")
    wait_until(lambda: not rdb.keys("sidecar:dedup:*"), 10, "the dedup window to end")

    again = post(client, "tasks:create", TASK, **{"Idempotency-Key": "exec-1"})

    assert again.status_code == 202
    assert again.get_json()["jobId"] != first["jobId"]
    assert rdb.hgetall(f"rq:job:{first['jobId']}") == kept
    assert waiting(rdb) == [first["jobId"], again.get_json()["jobId"]]


def test_without_a_key_identical_jobs_are_two_jobs(client: FlaskClient, rdb: redis.Redis) -> None:
    assert post(client, "tasks:create", TASK).status_code == 202
    assert post(client, "tasks:create", TASK).status_code == 202
    assert len(waiting(rdb)) == 2


def test_a_bad_idempotency_key_is_a_400(client: FlaskClient) -> None:
    response = post(client, "tasks:create", TASK, **{"Idempotency-Key": "k" * 256})
    assert response.status_code == 400


def test_concurrent_identical_requests_make_exactly_one_job(app: Flask, rdb: redis.Redis) -> None:
    answers: list[tuple[int, dict]] = []
    start = threading.Barrier(20)

    def send() -> None:
        client = app.test_client()
        start.wait()
        response = post(client, "tasks:create", TASK, **{"Idempotency-Key": "same"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [202]
    assert len({body["jobId"] for _, body in answers}) == 1
    assert len(waiting(rdb)) == 1


def test_telegram_updates_dedup_on_update_id(client: FlaskClient, rdb: redis.Redis) -> None:
    message = {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "/a"}
    update = {"update_id": 1000, "message": message}
    first = post(client, "telegram:command", update)
    again = post(client, "telegram:command", update)
    other = post(client, "telegram:command", {**update, "update_id": 1001})
    assert first.status_code == 202
    assert again.get_json() == {"status": "duplicate", "jobId": first.get_json()["jobId"]}
    assert other.status_code == 202
    assert len(waiting(rdb, "flrts:telegram:command")) == 2


class DropsAfter(redis.Redis):
    """A client of the test Redis that goes away after `budget` round trips: every later
    command (or pipeline) fails as if the connection to Redis had dropped."""

    def __init__(self, url: str, budget: int) -> None:
        super().__init__(connection_pool=redis.ConnectionPool.from_url(url))
        self.budget = budget

    def spend(self) -> None:
        if self.budget <= 0:
            raise redis.ConnectionError("Redis went away (test)")
        self.budget -= 1

    def execute_command(self, *args: object, **options: object) -> object:
        self.spend()
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: object = None) -> Pipeline:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def dropping_execute(raise_on_error: bool = True) -> list:
            self.spend()
            return execute(raise_on_error)

        pipe.execute = dropping_execute
        return pipe


@pytest.mark.parametrize("budget", [0, 1, 2, 3])
def test_redis_dropping_mid_request_never_leaves_a_claim_without_a_job(
    client: FlaskClient, rdb: redis.Redis, redis_url: str, monkeypatch, budget: int
) -> None:
    """Whatever round trip Redis drops at, a retry is either accepted or a duplicate of a
    job that was accepted and exists — never a duplicate of a job that was not stored."""
    settings = client.application.extensions["sidecar"].settings
    dropping = Intake(DropsAfter(redis_url, budget), settings)
    monkeypatch.setattr(jobs_api, "intake", lambda: dropping)
    first = post(client, "tasks:create", TASK, **{"Idempotency-Key": "k1"})
    monkeypatch.undo()
    retried = post(client, "tasks:create", TASK, **{"Idempotency-Key": "k1"})

    if first.status_code == 202:
        job_id = first.get_json()["jobId"]
        assert retried.get_json() == {"status": "duplicate", "jobId": job_id}
    else:
        assert first.status_code == 503
        assert first.headers["Retry-After"] == "5"
        assert first.get_json()["error"] == "service_unavailable"
        assert retried.status_code == 202
        job_id = retried.get_json()["jobId"]
    assert waiting(rdb) == [job_id]
    assert rdb.exists(f"rq:job:{job_id}")


def test_without_redis_the_answer_is_503(n8n: FakeN8n) -> None:
    client = make_app(N8N_URL=n8n.url).test_client()
    response = post(client, "tasks:create", TASK)
    assert response.status_code == 503


def test_with_an_encryption_key_job_data_is_unreadable_in_redis(
    n8n: FakeN8n, redis_url: str, rdb: redis.Redis
) -> None:
    key = Fernet.generate_key().decode()
    app = make_app(N8N_URL=n8n.url, REDIS_URL=redis_url, SIDECAR_ENCRYPTION_KEY=key)
    secret = {**TASK, "title": "Secret plumbing plan"}
    job_id = post(app.test_client(), "tasks:create", secret).get_json()["jobId"]
    dump = b"".join(rdb.dump(k) or b"" for k in rdb.keys("*"))
    assert b"Secret plumbing" not in dump
    (stored,) = Job.fetch(job_id, connection=rdb, serializer=JSONSerializer).args
    assert PayloadCipher([key]).unseal(stored)["data"]["title"] == "Secret plumbing plan"


BAD_BODIES = [
    {},
    {"userId": None},
    {"userId": [1], "title": {"a": 1}},
    {"userId": 1, "title": "t", "dueDate": "2030-02-31"},
    {"userId": 10**40, "title": "t"},
    {"update_id": "x", "message": []},
    {"action": 5, "work_package": "x"},
    {"chatId": 1.5, "text": None, "parseMode": ["HTML"]},
    {"userId": 1, "remindAt": "2030-13-01T00:00:00Z", "message": "m"},
    {"userId": 1, "taskId": 1, "changes": "all"},
    {"resource": None},
    {"since": 12},
]


@pytest.mark.parametrize("queue", sorted(jobs_api.MODELS))
def test_bad_input_is_never_a_500(client: FlaskClient, queue: str) -> None:
    for body in BAD_BODIES:
        response = post(client, queue, body)
        assert 400 <= response.status_code < 500 or response.status_code == 202, (body, response)
        assert response.is_json


def test_example_workflows_are_importable_json() -> None:
    root = Path(__file__).resolve().parents[1] / "examples" / "n8n"
    enqueue = json.loads((root / "enqueue-task.json").read_text())
    (http,) = [n for n in enqueue["nodes"] if n["type"] == "n8n-nodes-base.httpRequest"]
    assert http["parameters"]["url"].endswith("/v1/jobs/tasks:create")
    assert http["parameters"]["headerParameters"]["parameters"][0]["name"] == "Idempotency-Key"
    receive = json.loads((root / "openproject-api-webhook.json").read_text())
    hook = receive["nodes"][0]["parameters"]
    assert (hook["path"], hook["responseMode"]) == ("openproject-api", "lastNode")
    for workflow in (enqueue, receive):
        assert set(workflow["connections"]) <= {n["name"] for n in workflow["nodes"]}
