"""The worker's Ledger (sidecar/worker/ledger.py) in-process against real Redis: a job marked
failed is failed in RQ's terms, the count caps are enforced at most once a second (and at
exit), dead letters of earlier versions are adopted once, and what it logs."""

from __future__ import annotations

import logging
import re
import time
import zlib
from types import SimpleNamespace

import pytest
import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.scripts import Scripts
from sidecar.queues.deadletters.counts import dropped_counts as dlq_dropped
from sidecar.queues.deadletters.entries import DEAD_LETTER_FUNC, SUMMARY_FIELD, dlq_key, entry_for
from sidecar.queues.jobs import (
    JOB_PREFIX,
    TakenJob,
    build_job,
    enqueue_payload,
    persist,
    registry_key,
)
from sidecar.settings import Settings, load_settings
from sidecar.worker import ledger as ledger_module
from sidecar.worker.ledger import Ledger
from sidecar.worker.policy import Outcome

INBOUND, DEAD_LETTER = "flrts:webhooks:inbound", "flrts:dead-letter"
PAYLOAD = {"method": "POST", "path": "/webhook/x", "query": "", "headers": [], "body": ""}


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(
        _env_file=None,
        REDIS_URL=redis_url,
        SIDECAR_KEEP_COMPLETED_COUNT=1,
        SIDECAR_KEEP_FAILED_SECONDS=600,
    )


def ledger(client: redis.Redis, settings: Settings) -> Ledger:
    return Ledger(client, Scripts(client), settings, "exec1")


def test_a_failed_job_is_failed_as_rq_records_one(rdb: redis.Redis, settings: Settings) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    before = time.time()
    with rdb.pipeline(transaction=True) as pipe:
        ledger(rdb, settings).fail(pipe, job_id, INBOUND, "worker died 2 time(s)")
        pipe.execute()

    job = Job.fetch(job_id, connection=rdb, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED and job.ended_at is not None
    assert FailedJobRegistry(INBOUND, connection=rdb).get_job_ids() == [job_id]
    expiry = rdb.zscore(registry_key("failed", INBOUND), job_id)
    assert before + 600 <= expiry <= time.time() + 600
    stored = rdb.hgetall(JOB_PREFIX + job_id)
    assert stored[b"sidecar_error"] == b"worker died 2 time(s)"
    assert zlib.decompress(stored[b"exc_info"]) == b"worker died 2 time(s)"
    assert 598 <= rdb.ttl(JOB_PREFIX + job_id) <= 600


def finished(client: redis.Redis, count: int) -> None:
    """`count` more jobs in the finished registry (expiring far in the future)."""
    start = client.zcard(registry_key("finished", INBOUND))
    for n in range(start, start + count):
        client.hset(f"{JOB_PREFIX}done{n}", "status", "finished")
        client.zadd(registry_key("finished", INBOUND), {f"done{n}": 4e9 + n})


def test_caps_are_enforced_at_most_once_a_second_and_at_exit(
    rdb: redis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]  # the ledger's monotonic clock, moved by hand: no wall-clock race
    monkeypatch.setattr(ledger_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    book = ledger(rdb, settings)
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    taken = TakenJob(job_id, INBOUND, PAYLOAD, attempt=1, delivered=False)
    book.record([(taken, Outcome(kind="done", status=200))])
    finished(rdb, 2)

    book.trim_due()  # the first call trims
    assert rdb.zcard(registry_key("finished", INBOUND)) == 1

    book.record([(taken, Outcome(kind="done", status=200))])
    finished(rdb, 2)
    clock[0] += 0.999
    book.trim_due()  # within the second: not yet
    assert rdb.zcard(registry_key("finished", INBOUND)) == 3
    book.trim_due(force=True)  # at exit: now
    assert rdb.zcard(registry_key("finished", INBOUND)) == 1

    finished(rdb, 2)
    clock[0] += 0.999
    book.trim_due()  # a second after the forced trim, not after the first one: not yet
    assert rdb.zcard(registry_key("finished", INBOUND)) == 3
    clock[0] += 0.01
    book.record([(taken, Outcome(kind="done", status=200))])
    book.trim_due()  # a second later
    assert rdb.zcard(registry_key("finished", INBOUND)) == 1


def legacy_entry(client: redis.Redis, settings: Settings, job_id: str) -> str:
    """A dead letter as earlier versions wrote it: an RQ job and nothing beside it."""
    entry = entry_for(INBOUND, job_id, {"path": "/webhook/old"}, "n8n answered HTTP 404", 1)
    job = build_job(client, settings, DEAD_LETTER, entry, DEAD_LETTER_FUNC)
    with client.pipeline() as pipe:
        persist(pipe, DEAD_LETTER, job)
        pipe.execute()
    return job.id


def test_dead_letters_of_earlier_versions_are_adopted_on_the_first_trim_only(
    rdb: redis.Redis, settings: Settings
) -> None:
    book = ledger(rdb, settings)
    first = legacy_entry(rdb, settings, "old1")

    book.trim_due()
    assert rdb.hexists(JOB_PREFIX + first, SUMMARY_FIELD)

    rdb.delete("sidecar:dlq:adopted")  # even were the marker gone: once per process
    later = legacy_entry(rdb, settings, "old2")
    book.trim_due(force=True)
    assert not rdb.hexists(JOB_PREFIX + later, SUMMARY_FIELD)
    assert rdb.lrange(dlq_key(settings), 0, -1) == [first.encode(), later.encode()]


def test_a_retry_is_logged_with_job_attempt_error_and_delay(
    rdb: redis.Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    taken = TakenJob(job_id, INBOUND, PAYLOAD, attempt=1, delivered=False)
    with caplog.at_level(logging.INFO, logger="sidecar.worker"):
        ledger(rdb, settings).record([(taken, Outcome(kind="retry", error="HTTP 503"))])

    expected = rf"job {job_id} attempt 1 failed \(HTTP 503\); retry in \d+\.\d s"
    assert [r for r in caplog.records if re.fullmatch(expected, r.getMessage())]


def test_a_dropped_unregistered_404_does_not_stop_the_rest_of_the_batch(
    rdb: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        _env_file=None, REDIS_URL=redis_url, SIDECAR_DLQ_UNREGISTERED_PER_HOUR=0
    )
    first, second = (enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(2))
    unregistered = Outcome(
        kind="dead", status=404, error='n8n answered HTTP 404: "POST x" is not registered'
    )
    gone = Outcome(kind="dead", status=410, error="n8n answered HTTP 410")
    batch = [
        (TakenJob(first, INBOUND, PAYLOAD, attempt=1, delivered=False), unregistered),
        (TakenJob(second, INBOUND, PAYLOAD, attempt=1, delivered=False), gone),
    ]

    with caplog.at_level(logging.INFO, logger="sidecar.worker"):
        assert ledger(rdb, settings).record(batch) == {"done": 0, "retry": 0, "dead": 2}

    messages = [r.getMessage() for r in caplog.records]
    assert f"job {first} failed, not dead-lettered: {unregistered.error}" in messages
    assert f"job {second} dead-lettered after 1 attempt(s): n8n answered HTTP 410" in messages

    assert rdb.get(f"sidecar:dlq:job:{first}") is None  # over the cap: failed, not kept
    assert rdb.get(f"sidecar:dlq:job:{second}") is not None  # the next one still is
    assert dlq_dropped(rdb, DEFAULT_KEYS) == {"unregistered_webhook": 1}


def test_only_a_retry_is_logged_as_one(
    rdb: redis.Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    taken = TakenJob(job_id, INBOUND, PAYLOAD, attempt=1, delivered=False)
    with caplog.at_level(logging.INFO, logger="sidecar.worker"):
        ledger(rdb, settings).record([(taken, Outcome(kind="done", status=200))])
    assert "retry in" not in caplog.text


def test_every_queue_with_outcomes_since_the_last_trim_is_trimmed(
    rdb: redis.Redis, settings: Settings
) -> None:
    book = ledger(rdb, settings)
    for queue in (INBOUND, "flrts:tasks:create"):  # two batches before one trim
        job_id = enqueue_payload(rdb, settings, queue, PAYLOAD)
        taken = TakenJob(job_id, queue, PAYLOAD, attempt=1, delivered=False)
        book.record([(taken, Outcome(kind="done", status=200))])
        rdb.zadd(registry_key("finished", queue), {"old1": 4e9 + 1, "old2": 4e9 + 2})

    book.trim_due()

    assert rdb.zcard(registry_key("finished", INBOUND)) == 1
    assert rdb.zcard(registry_key("finished", "flrts:tasks:create")) == 1
