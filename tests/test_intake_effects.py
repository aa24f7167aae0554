"""What Intake (sidecar/queues/intake.py) stores and reports, in-process against real Redis:
the job's payload and description as RQ reads them, the queue a route sends to, dedup
claims and user windows kept per queue, the 202 body and the refusal events."""

from __future__ import annotations

import json

import pytest
import redis
from cryptography.fernet import Fernet
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.capture import CapturedRequest
from sidecar.crypto import PayloadCipher
from sidecar.errors import Duplicate, RateLimited
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import queue_key
from sidecar.routes import RateLimit, RouteRule, Routes
from sidecar.settings import Settings, load_settings

INBOUND, OTHER = "flrts:webhooks:inbound", "flrts:openproject:webhook"


def settings(**extra: object) -> Settings:
    return load_settings(_env_file=None, **{k: str(v) for k, v in extra.items()})


def hook(path: str = "/webhook/x", body: bytes = b'{"a":1}', user: str = "") -> CapturedRequest:
    headers = [("Content-Type", "application/json")] + ([("X-User-Id", user)] if user else [])
    return CapturedRequest("POST", path, "n=1", headers, body)


def fetch(client: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


def events(client: redis.Redis) -> list[tuple[str, dict]]:
    stream = client.xrange("sidecar:events")
    return [(f[b"type"].decode(), json.loads(f[b"data"])) for _, f in stream]


def test_a_queued_webhook_is_the_captured_request_described_by_method_and_path(
    rdb: redis.Redis,
) -> None:
    captured = hook()
    queued = Intake(rdb, settings()).enqueue(captured)

    assert queued.body() == {"status": "queued", "jobId": queued.job_id, "queue": INBOUND}
    job = fetch(rdb, queued.job_id)
    assert list(job.args) == [captured.to_payload()]
    assert (job.origin, job.description) == (INBOUND, "POST /webhook/x")


def test_a_sealed_webhook_names_neither_method_nor_path_in_clear(rdb: redis.Redis) -> None:
    key = Fernet.generate_key().decode()
    captured = hook()
    queued = Intake(rdb, settings(SIDECAR_ENCRYPTION_KEY=key)).enqueue(captured)

    job = fetch(rdb, queued.job_id)
    (stored,) = job.args
    assert PayloadCipher([key]).unseal(stored) == captured.to_payload()
    assert "/webhook/x" not in job.description and "POST" not in job.description


def test_a_route_rule_sends_the_webhook_to_its_queue(rdb: redis.Redis) -> None:
    base = settings()
    routes = Routes([RouteRule(match="/webhook/other*", queue="openproject:webhook")], base)
    intake = Intake(rdb, base, routes)

    queued = intake.enqueue(hook("/webhook/other/"))  # matched on the resolved path

    assert queued.queue == OTHER
    assert rdb.lrange(queue_key(OTHER), 0, -1) == [queued.job_id.encode()]
    assert intake.enqueue(hook("/webhook/x")).queue == INBOUND


def test_claims_and_user_windows_are_per_queue(rdb: redis.Redis) -> None:
    base = settings(SIDECAR_USER_RATE_LIMIT=1)
    intake = Intake(rdb, base)
    to_other = intake.routes.resolved(RouteRule(match="*", queue="openproject:webhook"))

    intake.enqueue(hook(user="ann"))
    queued = intake.enqueue(hook(user="ann"), to_other)  # same webhook, same user, other queue

    assert queued.queue == OTHER
    with pytest.raises(Duplicate):
        intake.enqueue(hook(user="ann"), to_other)
    with pytest.raises(RateLimited):
        intake.enqueue(hook(body=b"2", user="ann"), to_other)


def test_refusal_events_name_queue_path_job_and_user(rdb: redis.Redis) -> None:
    intake = Intake(rdb, settings())
    once = RateLimit(limit=1, window=60)
    rule = intake.routes.resolved(
        RouteRule(match="*", queue="openproject:webhook", rate_limit=once)
    )
    first = intake.enqueue(hook(user="bo"), rule)
    with pytest.raises(Duplicate):
        intake.enqueue(hook(user="bo"), rule)
    with pytest.raises(RateLimited):
        intake.enqueue(hook(body=b"2", user="bo"), rule)

    assert events(rdb) == [
        ("duplicate", {"queue": OTHER, "jobId": first.job_id, "path": "/webhook/x"}),
        ("rate_limited", {"queue": OTHER, "jobId": None, "path": "/webhook/x", "user": "bo"}),
    ]


def test_a_sub_second_default_window_is_one_second(rdb: redis.Redis) -> None:
    intake = Intake(rdb, settings(SIDECAR_USER_RATE_WINDOW_SECONDS=1))
    assert intake.default_limit.window == 1


def test_health_pings_the_intakes_redis(rdb: redis.Redis) -> None:
    assert Intake(rdb, settings()).health() == (True, "ok")
