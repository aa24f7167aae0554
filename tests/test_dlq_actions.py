"""Acting on dead letters in-process (sidecar/queues/deadletters/), as the API and the CLI
call it, against real Redis: purge, replay of one or all, delete, lookups and summaries.
The CLI's own tests (test_cli_dlq.py) run it as a subprocess; these reach the same code
in this process."""

from __future__ import annotations

import json

import pytest
import redis
from cryptography.fernet import Fernet
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.errors import Conflict, NotFound
from sidecar.queues import deadletters
from sidecar.queues.deadletters import actions
from sidecar.queues.deadletters.entries import (
    SUMMARY_FIELD,
    add_dead_letter,
    by_queue_key,
    dlq_key,
    entry_for,
)
from sidecar.queues.jobs import DELIVER_FUNC, JOB_PREFIX, enqueue_payload, registry_key
from sidecar.settings import Settings, load_settings
from sidecar.typed.requests import RUN_FUNC

INBOUND, OTHER = "flrts:webhooks:inbound", "flrts:tasks:create"
PAYLOAD = {"method": "POST", "path": "/webhook/x", "query": "", "headers": [], "body": ""}


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(_env_file=None, REDIS_URL=redis_url)


def dead(client: redis.Redis, settings: Settings, queue: str = INBOUND, payload=None) -> str:
    """A job that failed for good: failed in RQ's registry, and its dead letter; its id."""
    job_id = enqueue_payload(client, settings, queue, payload or PAYLOAD)
    client.lrem(f"rq:queue:{queue}", 1, job_id)
    client.hset(JOB_PREFIX + job_id, "status", "failed")
    client.zadd(registry_key("failed", queue), {job_id: 4e9})
    entry = entry_for(queue, job_id, payload or PAYLOAD, "n8n answered HTTP 410", 3)
    with client.pipeline(transaction=True) as pipe:
        add_dead_letter(client, pipe, settings, entry)
        pipe.execute()
    return job_id


def test_purge_deletes_every_entry_or_those_of_one_queue(
    rdb: redis.Redis, settings: Settings
) -> None:
    inbound = [dead(rdb, settings) for _ in range(3)]
    other = dead(rdb, settings, OTHER)
    unreadable = rdb.lindex(dlq_key(settings), 0).decode()
    rdb.hset(JOB_PREFIX + unreadable, SUMMARY_FIELD, "not json")  # left to the trim

    assert deadletters.purge(rdb, settings, OTHER) == 1
    assert rdb.exists(DEFAULT_KEYS.dlq_index(other)) == 0 and rdb.zcard(by_queue_key(OTHER)) == 0
    assert deadletters.purge(rdb, settings, None) == 2

    assert rdb.lrange(dlq_key(settings), 0, -1) == [unreadable.encode()]
    assert [rdb.exists(DEFAULT_KEYS.dlq_index(job_id)) for job_id in inbound] == [1, 0, 0]


def test_purge_of_entries_with_sealed_errors(rdb: redis.Redis, redis_url: str) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(_env_file=None, REDIS_URL=redis_url, SIDECAR_ENCRYPTION_KEY=key)
    dead(rdb, settings)

    assert deadletters.purge(rdb, settings, None) == 1
    assert rdb.llen(dlq_key(settings)) == 0


def test_purge_works_through_more_entries_than_one_batch(
    rdb: redis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "BATCH", 2)
    for _ in range(5):
        dead(rdb, settings)

    assert deadletters.purge(rdb, settings, INBOUND) == 5
    assert rdb.llen(dlq_key(settings)) == 0 and rdb.keys("sidecar:dlq:job:*") == []


def test_replay_all_replays_what_it_can_and_counts_the_rest(
    rdb: redis.Redis, settings: Settings
) -> None:
    first, waiting, other = dead(rdb, settings), dead(rdb, settings), dead(rdb, settings, OTHER)
    running = dead(rdb, settings)
    rdb.hset(JOB_PREFIX + waiting, "status", "queued")  # already back on its queue
    rdb.hset(JOB_PREFIX + running, "status", "started")
    ticks: list[int] = []

    assert deadletters.replay_all(rdb, settings, INBOUND, ticks.append) == (1, 2)
    assert ticks == [1, 1, 1]
    assert deadletters.replay_all(rdb, settings, None) == (1, 2)  # `other`; the two again

    for job_id in (first, other):
        job = Job.fetch(job_id, connection=rdb, serializer=JSONSerializer)
        assert job.get_status() == "queued" and job.func_name == DELIVER_FUNC
        assert "sidecar_attempt" not in rdb.hgetall(JOB_PREFIX + job_id)  # fresh attempts


def test_a_replayed_job_leaves_the_failed_registry_and_names_its_entry(
    rdb: redis.Redis, settings: Settings
) -> None:
    job_id = dead(rdb, settings)
    entry_id = rdb.get(DEFAULT_KEYS.dlq_index(job_id)).decode()

    entry = deadletters.replay(rdb, settings, job_id)

    assert (entry.id, entry.jobId, entry.queue) == (entry_id, job_id, INBOUND)
    assert rdb.zscore(registry_key("failed", INBOUND), job_id) is None
    assert rdb.hget(JOB_PREFIX + job_id, "sidecar_replayed_from") == entry_id.encode()
    assert rdb.lrange(f"rq:queue:{INBOUND}", 0, -1) == [job_id.encode()]
    assert rdb.exists(JOB_PREFIX + entry_id, DEFAULT_KEYS.dlq_index(job_id)) == 0
    with pytest.raises(NotFound):
        deadletters.replay(rdb, settings, job_id)


def test_a_pending_job_is_not_replayed(rdb: redis.Redis, settings: Settings) -> None:
    job_id = dead(rdb, settings)
    for status in ("queued", "started", "scheduled"):
        rdb.hset(JOB_PREFIX + job_id, "status", status)
        with pytest.raises(Conflict, match=f"job {job_id} is already waiting or running"):
            deadletters.replay(rdb, settings, job_id)
    assert rdb.exists(DEFAULT_KEYS.dlq_index(job_id)) == 1


def test_a_typed_job_is_replayed_to_its_processor(rdb: redis.Redis, settings: Settings) -> None:
    typed = {"operation": "tasks:create", "data": {"userId": 1, "title": "t"}}
    job_id = dead(rdb, settings, OTHER, typed)

    deadletters.replay(rdb, settings, job_id)

    job = Job.fetch(job_id, connection=rdb, serializer=JSONSerializer)
    assert (job.func_name, list(job.args), job.origin) == (RUN_FUNC, [typed], OTHER)


def test_delete_by_entry_or_job_id_and_lookups_of_anything_else(
    rdb: redis.Redis, settings: Settings
) -> None:
    one, two = dead(rdb, settings), dead(rdb, settings)
    entry_two = rdb.get(DEFAULT_KEYS.dlq_index(two)).decode()

    assert deadletters.delete(rdb, settings, one).jobId == one
    assert deadletters.delete(rdb, settings, entry_two).jobId == two
    assert rdb.llen(dlq_key(settings)) == 0 and rdb.zcard(by_queue_key(INBOUND)) == 0
    for given in (one, "sidecar:dlq:job:x", "a/b", ""):
        with pytest.raises(NotFound, match="no dead letter with id"):
            deadletters.get_entry(rdb, settings, given)


def test_listings_read_summaries_with_their_defaults(rdb: redis.Redis, settings: Settings) -> None:
    job_ids = [dead(rdb, settings) for _ in range(3)]
    ids = [i.decode() for i in rdb.lrange(dlq_key(settings), 0, -1)]
    rdb.hset(JOB_PREFIX + ids[2], SUMMARY_FIELD, json.dumps({"queue": INBOUND, "jobId": "j"}))
    rdb.hset(JOB_PREFIX + ids[1], SUMMARY_FIELD, json.dumps(["not", "an", "object"]))
    extra = dead(rdb, settings)
    rdb.hdel(
        JOB_PREFIX + rdb.get(DEFAULT_KEYS.dlq_index(extra)).decode(), SUMMARY_FIELD
    )  # not adopted yet

    page, total = deadletters.list_entries(rdb, settings, None, 0, 4)

    assert total == 4 and [e.id for e in page] == [ids[0], ids[2]]
    full = page[0]
    assert (full.jobId, full.queue, full.error, full.attempts) == (
        job_ids[0],
        INBOUND,
        "n8n answered HTTP 410",
        3,
    )
    assert full.failedAt and full.data == {}
    assert full.summary() == {k: v for k, v in vars(full).items() if k != "data"}
    bare = page[1]
    assert (bare.error, bare.attempts, bare.failedAt) == ("", 0, "")
    by_queue, queue_total = deadletters.list_entries(rdb, settings, INBOUND, 1, 5)
    assert queue_total == 4 and [e.id for e in by_queue] == [ids[2]]


def test_a_whole_entry_carries_the_captured_request(rdb: redis.Redis, settings: Settings) -> None:
    job_id = dead(rdb, settings)
    entry = deadletters.get_entry(rdb, settings, job_id)
    assert entry.data == PAYLOAD and entry.attempts == 3
    assert deadletters.opened(settings, entry) == PAYLOAD
