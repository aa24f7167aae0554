"""The writers routed through the one intake (sidecar/queues/intake.py) besides webhooks:
typed jobs and typed follow-ups, in-process against real Redis. A follow-up keeps what it
had before it went through the intake: an id derived from its parent (stored at most once),
a sealed payload, and no queue-room limit (a worker writes it; no sender is answered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from cryptography.fernet import Fernet
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import import_attribute

from sidecar.crypto import PayloadCipher
from sidecar.errors import BacklogFull
from sidecar.guards.dedup import job_id_for
from sidecar.queues.deadletters.entries import DEAD_LETTER_FUNC
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import DELIVER_FUNC, queue_key, registry_key
from sidecar.settings import Settings, load_settings
from sidecar.typed.follow_ups import FollowUp
from sidecar.typed.requests import RUN_FUNC
from sidecar.worker import delivery, typed_jobs

SEND = "flrts:reminders:send"
REMINDER = {"userId": "1", "message": "m", "remindAt": "2030-01-01T00:00:00+00:00"}


def settings(**extra: object) -> Settings:
    return load_settings(_env_file=None, **{k: str(v) for k, v in extra.items()})


def fetch(client: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


def test_a_typed_job_is_answered_with_its_id_and_queue(rdb: redis.Redis) -> None:
    queued = Intake(rdb, settings()).enqueue_typed("tasks:create", {"title": "t"}, None)
    assert queued.body() == {
        "status": "queued",
        "jobId": queued.job_id,
        "queue": "flrts:tasks:create",
    }
    job = fetch(rdb, queued.job_id)
    assert job.func_name == RUN_FUNC
    assert job.args[0] == {"operation": "tasks:create", "data": {"title": "t"}}


def test_a_follow_up_is_stored_once_under_the_id_derived_from_its_parent(
    rdb: redis.Redis,
) -> None:
    intake = Intake(rdb, settings())
    follow = FollowUp("reminders:send", REMINDER)
    first = intake.enqueue_follow_up(follow, "parent1")
    assert first == job_id_for(SEND, "follow-up:parent1")
    assert intake.enqueue_follow_up(follow, "parent1") == first
    assert rdb.lrange(queue_key(SEND), 0, -1) == [first.encode()]
    job = fetch(rdb, first)
    assert (job.func_name, job.get_status()) == (RUN_FUNC, "queued")


def test_a_due_follow_up_waits_in_the_scheduled_registry(rdb: redis.Redis) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    job_id = Intake(rdb, settings()).enqueue_follow_up(
        FollowUp("reminders:send", REMINDER, due), "parent2"
    )
    assert rdb.llen(queue_key(SEND)) == 0
    assert rdb.zrange(registry_key("scheduled", SEND), 0, -1, withscores=True) == [
        (job_id.encode(), due.timestamp())
    ]
    assert fetch(rdb, job_id).get_status() == "scheduled"


def test_a_follow_up_is_sealed_like_every_job(rdb: redis.Redis) -> None:
    key = Fernet.generate_key().decode()
    job_id = Intake(rdb, settings(SIDECAR_ENCRYPTION_KEY=key)).enqueue_follow_up(
        FollowUp("reminders:send", REMINDER), "parent3"
    )
    (stored,) = fetch(rdb, job_id).args
    assert "sealed" in stored
    assert PayloadCipher([key]).unseal(stored) == {"operation": "reminders:send", "data": REMINDER}


def test_a_follow_up_is_not_held_back_by_queue_room(rdb: redis.Redis) -> None:
    intake = Intake(rdb, settings(SIDECAR_MAX_WAITING=1))
    intake.enqueue_typed("reminders:send", REMINDER, None)
    with pytest.raises(BacklogFull):
        intake.enqueue_typed("reminders:send", REMINDER, None)
    follow_id = intake.enqueue_follow_up(FollowUp("reminders:send", REMINDER), "parent4")
    assert rdb.lrange(queue_key(SEND), 0, -1)[-1] == follow_id.encode()


def test_the_function_names_stored_in_job_hashes_never_change() -> None:
    """Job hashes name their RQ function; moving code must not rename what is stored."""
    assert RUN_FUNC == "sidecar.typed.processors.run"
    assert DELIVER_FUNC == "sidecar.worker.delivery.deliver"
    assert DEAD_LETTER_FUNC == "sidecar.queues.dlq.dead_letter_entry"
    assert import_attribute(RUN_FUNC) is typed_jobs.run  # what a plain `rq worker` runs
    assert import_attribute(DELIVER_FUNC) is delivery.deliver
