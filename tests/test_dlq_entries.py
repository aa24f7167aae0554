"""The dead-letter package's own writes (sidecar/queues/deadletters/: entries, retention,
counts), in-process against real Redis: an entry as RQ reads it, its summary and error
text, the adoption of entries written by earlier versions (once, bounded by age and count),
the unregistered-webhook counters."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis
from cryptography.fernet import Fernet
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.crypto import PayloadCipher
from sidecar.queues.deadletters import counts, entries, retention
from sidecar.queues.deadletters.entries import (
    DEAD_LETTER_FUNC,
    SUMMARY_FIELD,
    add_dead_letter,
    by_queue_key,
    dlq_key,
    entry_for,
    open_error,
    seal_error,
)
from sidecar.queues.deadletters.retention import adopt_legacy_entries
from sidecar.queues.jobs import JOB_PREFIX, build_job, decode_data, persist
from sidecar.settings import Settings, load_settings

INBOUND, DEAD_LETTER = "flrts:webhooks:inbound", "flrts:dead-letter"


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(_env_file=None, REDIS_URL=redis_url, SIDECAR_DLQ_MAX_AGE_SECONDS=600)


def written(client: redis.Redis, settings: Settings, entry: dict) -> str:
    with client.pipeline(transaction=True) as pipe:
        entry_id = add_dead_letter(client, pipe, settings, entry)
        pipe.execute()
    return entry_id


def test_an_entry_is_an_rq_job_on_the_dead_letter_queue_with_a_compact_summary(
    rdb: redis.Redis, settings: Settings
) -> None:
    entry = entry_for(INBOUND, "job1", {"path": "/webhook/x"}, "n8n answered HTTP 404", 2)
    entry_id = written(rdb, settings, entry)

    job = Job.fetch(entry_id, connection=rdb, serializer=JSONSerializer)
    assert (job.func_name, job.origin) == (DEAD_LETTER_FUNC, DEAD_LETTER)
    assert job.description == f"dead letter of {INBOUND} job job1"
    assert list(job.args) == [entry]
    summary = rdb.hget(JOB_PREFIX + entry_id, SUMMARY_FIELD)
    assert json.loads(summary) == {k: entry[k] for k in entries.SUMMARY_KEYS}
    assert b", " not in summary and b": " not in summary  # compact: read on every listing
    assert datetime.fromisoformat(entry["failedAt"]).utcoffset() is not None  # UTC, not local


def test_the_error_text_is_stored_plain_or_sealed(settings: Settings) -> None:
    plain = PayloadCipher([])
    assert seal_error(plain, "boom") == "boom"
    assert open_error(plain, "boom") == "boom"
    assert open_error(plain, None) == "" and open_error(plain, "") == ""
    key = Fernet.generate_key().decode()
    sealed = seal_error(PayloadCipher([key]), "boom")
    assert isinstance(sealed, dict) and "boom" not in json.dumps(sealed)
    assert open_error(PayloadCipher([key]), sealed) == "boom"
    without_text = PayloadCipher([key]).seal({"other": 1})
    assert open_error(PayloadCipher([key]), without_text) == ""
    assert open_error(plain, sealed) == entries.SEALED_ERROR


def test_an_entry_refuses_to_run() -> None:
    with pytest.raises(RuntimeError) as caught:
        entries.dead_letter_entry({})
    assert str(caught.value) == (
        "dead-letter entries are not run; replay them with `n8n-sidecar dlq replay`"
    )


def legacy(client: redis.Redis, settings: Settings, entry: dict) -> str:
    """An entry as earlier versions wrote it: an RQ job and nothing beside it."""
    job = build_job(client, settings, DEAD_LETTER, entry, DEAD_LETTER_FUNC)
    with client.pipeline() as pipe:
        persist(pipe, DEAD_LETTER, job)
        pipe.execute()
    return job.id


def test_legacy_entries_get_summary_zset_index_and_the_rest_of_their_age(
    rdb: redis.Redis, settings: Settings
) -> None:
    failed_at = time.time() - 100
    entry = {"queue": INBOUND, "jobId": "old1", "data": {"path": "/webhook/old"}}
    entry["failedAt"] = datetime.fromtimestamp(failed_at, UTC).isoformat()
    entry_id = legacy(rdb, settings, entry)  # no error, no attempts: earlier versions
    current = written(rdb, settings, entry_for(INBOUND, "new1", {}, "x", 1))

    assert adopt_legacy_entries(rdb, settings) == 1

    stored = rdb.hgetall(JOB_PREFIX + entry_id)
    summary = json.loads(stored[SUMMARY_FIELD.encode()])
    assert summary == {
        "queue": INBOUND,
        "jobId": "old1",
        "error": "",
        "attempts": "",
        "failedAt": entry["failedAt"],
    }
    assert decode_data(stored[b"data"]) == {**entry, "error": ""}
    assert Job.fetch(entry_id, connection=rdb, serializer=JSONSerializer).func_name == (
        DEAD_LETTER_FUNC
    )
    assert 495 <= rdb.ttl(JOB_PREFIX + entry_id) <= 500  # 600 s from failedAt
    assert 495 <= rdb.ttl(DEFAULT_KEYS.dlq_index("old1")) <= 500
    assert rdb.get(DEFAULT_KEYS.dlq_index("old1")) == entry_id.encode()
    assert rdb.zscore(by_queue_key(INBOUND), entry_id) == pytest.approx(failed_at, abs=1)
    assert rdb.get(DEFAULT_KEYS.dlq_adopted) == b"1"
    assert rdb.lrange(dlq_key(settings), 0, -1) == [entry_id.encode(), current.encode()]
    assert adopt_legacy_entries(rdb, settings) == 0  # once per Redis


def test_legacy_entries_past_the_age_are_deleted_and_unreadable_ones_left(
    rdb: redis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    monkeypatch.setattr(retention, "time", SimpleNamespace(time=lambda: now))  # no clock race
    old = {"queue": INBOUND, "jobId": "old1", "error": "e", "failedAt": "2026-01-01T00:00:00+00:00"}
    expired = legacy(rdb, settings, old)
    almost = {**old, "jobId": "old2"}
    almost["failedAt"] = datetime.fromtimestamp(now - 599.5, UTC).isoformat()
    at_edge = legacy(rdb, settings, almost)  # less than a second left: rounded up, kept
    just_over = {**old, "jobId": "old4"}
    just_over["failedAt"] = datetime.fromtimestamp(now - 600.5, UTC).isoformat()
    gone = legacy(rdb, settings, just_over)  # rounded up to 0 s left: deleted too
    odd = legacy(rdb, settings, {"queue": INBOUND})  # no jobId: not an entry we can adopt
    undated = legacy(rdb, settings, {"queue": INBOUND, "jobId": "old3"})  # failedAt unknown

    assert adopt_legacy_entries(rdb, settings) == 2

    ids = rdb.lrange(dlq_key(settings), 0, -1)
    assert ids == [at_edge.encode(), odd.encode(), undated.encode()]
    assert rdb.exists(JOB_PREFIX + expired, JOB_PREFIX + gone) == 0
    assert rdb.hexists(JOB_PREFIX + at_edge, SUMMARY_FIELD)
    assert not rdb.hexists(JOB_PREFIX + odd, SUMMARY_FIELD)
    assert 598 <= rdb.ttl(JOB_PREFIX + undated) <= 600  # counted from now


def test_only_the_newest_legacy_entries_within_the_cap_are_adopted(
    rdb: redis.Redis, redis_url: str
) -> None:
    settings = load_settings(_env_file=None, REDIS_URL=redis_url, SIDECAR_DLQ_MAX_ENTRIES=2)
    now = datetime.now(UTC).isoformat()
    ids = [
        legacy(rdb, settings, {"queue": INBOUND, "jobId": f"j{n}", "failedAt": now})
        for n in range(3)
    ]

    assert adopt_legacy_entries(rdb, settings) == 2

    adopted = [rdb.hexists(JOB_PREFIX + i, SUMMARY_FIELD) for i in ids]
    assert adopted == [False, True, True]


def test_an_already_sealed_legacy_error_is_kept_as_it_is(rdb: redis.Redis, redis_url: str) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(_env_file=None, REDIS_URL=redis_url, SIDECAR_ENCRYPTION_KEY=key)
    sealed = seal_error(PayloadCipher([key]), "boom")
    now = datetime.now(UTC).isoformat()
    entry_id = legacy(
        rdb, settings, {"queue": INBOUND, "jobId": "j", "error": sealed, "failedAt": now}
    )

    adopt_legacy_entries(rdb, settings)

    summary = json.loads(rdb.hget(JOB_PREFIX + entry_id, SUMMARY_FIELD))
    assert summary["error"] == sealed


def test_unregistered_counts_are_per_path_and_hour(rdb: redis.Redis) -> None:
    before = int(time.time() // 3600)
    assert counts.unregistered_counts(rdb, DEFAULT_KEYS, ["/a", "/b", "/a"]) == [1, 1, 2]
    hours = {f":{before}", f":{int(time.time() // 3600)}"}  # an hour may just have begun
    keys = rdb.keys(DEFAULT_KEYS.key("dlq", "unregistered", "*"))
    assert len(keys) == 2 and all(k.decode()[-len(f":{before}") :] in hours for k in keys)
    assert all(3590 <= rdb.ttl(k) <= 3600 for k in keys)


def test_a_dropped_dead_letter_counts_one(rdb: redis.Redis) -> None:
    for _ in range(2):
        with rdb.pipeline() as pipe:
            counts.count_dropped(pipe, DEFAULT_KEYS, entries.UNREGISTERED)
            pipe.execute()
    assert counts.dropped_counts(rdb, DEFAULT_KEYS) == {entries.UNREGISTERED: 2}
