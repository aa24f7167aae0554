"""Every effect of each Lua script (sidecar/backend/lua/*.lua), against real Redis: every key it
writes, that key's TTL and its registry membership, checked against RQ's own layout where
RQ has one (the job hash and queue keys ingest.lua writes are compared with what RQ's own
Queue.enqueue writes for the same job; registries are read back with RQ's registry classes).

test_ingest_script.py covers ingest.lua's decisions (dedup, the moving window, refusals)
and test_record_script.py record.lua's batch against the former redis-py transaction;
test_worker_maintenance.py the maintenance scripts' behaviour. This file adds the layout:
keys, TTLs and memberships those tests do not check."""

from __future__ import annotations

import math
import time
import zlib

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer
from support.queues import INBOUND, status

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.scripts import Scripts
from sidecar.guards.dedup import claim_key
from sidecar.guards.ratelimit import UserWindow
from sidecar.queues.admission import Admission, admit
from sidecar.queues.deadletters.entries import SUMMARY_FIELD
from sidecar.queues.jobhash import JobHash
from sidecar.queues.jobs import (
    DELIVER_FUNC,
    JOB_PREFIX,
    enqueue_payload,
    locks_key,
    queue_key,
    registry_key,
    rq_now,
)
from sidecar.queues.overview import paused_key
from sidecar.queues.wake import wake_key
from sidecar.routes import RateLimit
from sidecar.settings import Settings, load_settings
from sidecar.worker.ledger import Ledger

PAYLOAD = {"method": "POST", "path": "/webhook/x", "query": "", "headers": [], "body": "aGk="}
DESCRIPTION = "POST /webhook/x"
FAR = 4_000_000_000.0  # a registry score in 2096: RQ never cleans it up as expired
PER_JOB_FIELDS = {b"created_at", b"enqueued_at"}  # RQ's timestamps: per job, not layout


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(_env_file=None, REDIS_URL=redis_url)


def layout(client: redis.Redis, job_id: str) -> dict:
    """Every key in Redis, with the job id replaced by JOB: its type, TTL (-1: none) and
    value (a hash without its per-job timestamps; a set or zset as a set of members)."""
    state = {}
    for raw in client.keys("*"):
        key = raw.decode()
        kind = client.type(key).decode()
        if kind == "hash":
            fields = client.hgetall(key).items()
            value = {f: _inflated(f, v) for f, v in fields if f not in PER_JOB_FIELDS}
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        else:
            value = client.get(key) if kind == "string" else kind
        state[key.replace(job_id, "JOB")] = (kind, client.ttl(key), _masked(value, job_id))
    return state


def _inflated(field: bytes, value: bytes) -> bytes:
    """A job's data decompressed: the same JSON, whatever zlib window compressed it (ours is
    sized to the data, RQ's is zlib's default: the compressed bytes' header differs)."""
    return zlib.decompress(value) if field == b"data" else value


def _masked(value: object, job_id: str) -> object:
    token = job_id.encode()
    if isinstance(value, list):
        return [v.replace(token, b"JOB") for v in value]
    if isinstance(value, set):
        return {v.replace(token, b"JOB") for v in value}
    return value


def ingest(
    client: redis.Redis,
    settings: Settings,
    claim: str | None = None,
    window: UserWindow | None = None,
    claim_seconds: int = 0,
) -> str:
    """Admit PAYLOAD on INBOUND with ingest.lua; its new job id."""
    job_id = f"job{time.monotonic_ns()}"
    fields = JobHash(settings).fields(INBOUND, PAYLOAD, DESCRIPTION)
    admit(
        Scripts(client).ingest,
        client,
        Admission(INBOUND, job_id, claim, claim_seconds, window, fields),
    )
    return job_id


def rq_enqueue(client: redis.Redis, settings: Settings) -> str:
    """The same job queued by RQ's own Queue.enqueue; its id."""
    job = Queue(INBOUND, connection=client, serializer=JSONSerializer).enqueue(
        DELIVER_FUNC,
        PAYLOAD,
        job_timeout=math.ceil(settings.upstream_timeout_seconds) + 30,
        result_ttl=math.ceil(settings.keep_completed_seconds),
        failure_ttl=math.ceil(settings.keep_failed_seconds),
        description=DESCRIPTION,
    )
    return job.id


# --- ingest.lua ---------------------------------------------------------------------------


def test_ingest_writes_the_keys_rq_enqueue_writes_and_one_wake_up_token(
    rdb: redis.Redis, settings: Settings
) -> None:
    ours = layout(rdb, ingest(rdb, settings))
    rdb.flushall()
    theirs = layout(rdb, rq_enqueue(rdb, settings))

    assert ours.pop(wake_key(INBOUND)) == ("list", -1, [b"1"])  # the sidecar's only extra
    assert ours == theirs  # job hash field by field, queue list, rq:queues: types and TTLs
    assert set(theirs) == {"rq:job:JOB", queue_key(INBOUND), Queue.redis_queues_keys}
    assert theirs["rq:job:JOB"][1] == -1  # a waiting job never expires
    assert theirs[Queue.redis_queues_keys][2] == {queue_key(INBOUND).encode()}


def test_rq_reads_the_ingested_job_as_one_of_its_own(rdb: redis.Redis, settings: Settings) -> None:
    job_id = ingest(rdb, settings)

    job = Job.fetch(job_id, connection=rdb, serializer=JSONSerializer)
    assert (job.get_status(), job.origin, job.func_name) == (
        JobStatus.QUEUED,
        INBOUND,
        DELIVER_FUNC,
    )
    assert job.args == (PAYLOAD,) or list(job.args) == [PAYLOAD]
    assert Queue(INBOUND, connection=rdb, serializer=JSONSerializer).job_ids == [job_id]
    assert INBOUND in [q.name for q in Queue.all(connection=rdb)]


def test_the_dedup_claim_holds_the_job_id_for_the_window_exactly(
    rdb: redis.Redis, settings: Settings
) -> None:
    claim = claim_key(INBOUND, "POST\n/webhook/x\nkey:1")
    job_id = ingest(rdb, settings, claim=claim, claim_seconds=120)

    assert rdb.get(claim) == job_id.encode()
    assert 118 <= rdb.ttl(claim) <= 120  # the window ends: a claim without expiry loses webhooks


def test_without_dedup_or_user_no_claim_and_no_window_is_written(
    rdb: redis.Redis, settings: Settings
) -> None:
    job_id = ingest(rdb, settings)

    assert not [k for k in rdb.keys("sidecar:dedup:*") + rdb.keys("sidecar:ratelimit:*")]
    assert rdb.exists(DEFAULT_KEYS.no_claim) == 0
    assert set(rdb.keys("*")) == {
        f"rq:job:{job_id}".encode(),
        queue_key(INBOUND).encode(),
        Queue.redis_queues_keys.encode(),
        wake_key(INBOUND).encode(),
    }


def test_the_user_window_holds_admission_times_and_expires_a_window_after_the_last(
    rdb: redis.Redis, settings: Settings
) -> None:
    window = UserWindow(INBOUND, "alice", RateLimit(limit=5, window=90))
    before = _server_micros(rdb)
    ingest(rdb, settings, window=window)
    ingest(rdb, settings, window=window)
    after = _server_micros(rdb)

    times = [int(t) for t in rdb.lrange(window.key, 0, -1)]
    assert len(times) == 2 and before <= times[1] <= times[0] <= after  # newest first, µs
    assert 88 <= rdb.ttl(window.key) <= 90


def _server_micros(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


# --- dequeue.lua --------------------------------------------------------------------------


def dequeue(
    client: redis.Redis, n: int, lock_deadline: float, wip_score: float, limit: int = 100
) -> list:
    return Scripts(client).dequeue(
        keys=[
            queue_key(INBOUND),
            registry_key("wip", INBOUND),
            locks_key(INBOUND),
            "sidecar:limit:test",
            paused_key(INBOUND),
        ],
        args=[
            *(n, lock_deadline, wip_score, rq_now(), "worker-a", "exec1"),
            *(JOB_PREFIX, DEFAULT_KEYS.delivered_prefix, limit, 30_000),
        ],
    )


def test_dequeue_registers_the_job_as_rq_registers_a_started_one(
    rdb: redis.Redis, settings: Settings
) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    rdb.set(DEFAULT_KEYS.delivered_prefix + job_id, 1)

    flat = dequeue(rdb, 1, lock_deadline=1_000.0, wip_score=FAR)

    assert flat[2:] == [1, 1]  # attempt 1, already delivered
    started = StartedJobRegistry(INBOUND, connection=rdb)
    assert started.key == registry_key("wip", INBOUND)
    assert started.get_job_ids() == [job_id]
    assert rdb.zscore(registry_key("wip", INBOUND), f"{job_id}:exec1") == FAR
    assert rdb.zrange(locks_key(INBOUND), 0, -1, withscores=True) == [(job_id.encode(), 1000.0)]
    job = rdb.hgetall(JOB_PREFIX + job_id)
    assert (job[b"status"], job[b"worker_name"], job[b"sidecar_exec"]) == (
        b"started",
        b"worker-a",
        b"exec1",
    )
    assert job[b"sidecar_attempt"] == b"1" and job[b"started_at"]
    assert Job.fetch(job_id, connection=rdb, serializer=JSONSerializer).get_status() == "started"
    assert rdb.llen(queue_key(INBOUND)) == 0
    assert rdb.ttl(JOB_PREFIX + job_id) == -1


def test_dequeue_counts_what_it_took_in_the_window_with_a_ttl_of_two_windows(
    rdb: redis.Redis, settings: Settings
) -> None:
    for _ in range(3):
        enqueue_payload(rdb, settings, INBOUND, PAYLOAD)

    assert len(dequeue(rdb, 5, 1_000.0, FAR, limit=2)) == 2 * 4  # the limit, not 5
    assert rdb.get("sidecar:limit:test") == b"2"
    assert 59_000 <= rdb.pttl("sidecar:limit:test") <= 60_000
    assert dequeue(rdb, 5, 1_000.0, FAR, limit=2) == []  # the window's limit is used up
    assert rdb.llen(queue_key(INBOUND)) == 1


def test_dequeue_drops_an_id_whose_job_hash_is_gone_without_counting_it(
    rdb: redis.Redis, settings: Settings
) -> None:
    gone, kept = (enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(2))
    rdb.delete(JOB_PREFIX + gone)

    flat = dequeue(rdb, 1, 1_000.0, FAR)

    assert flat[0] == kept.encode() and flat[2:] == [1, 0]
    assert rdb.exists(JOB_PREFIX + gone) == 0  # not re-created by the status write
    assert rdb.get("sidecar:limit:test") == b"1"
    assert rdb.zrange(locks_key(INBOUND), 0, -1) == [kept.encode()]


def test_dequeue_of_an_empty_queue_writes_nothing(rdb: redis.Redis) -> None:
    assert dequeue(rdb, 3, 1_000.0, FAR) == []
    assert rdb.keys("*") == []


# --- record.lua ---------------------------------------------------------------------------


def test_recorded_outcomes_are_in_rqs_registries_with_rqs_statuses(
    rdb: redis.Redis, settings: Settings
) -> None:
    from sidecar.queues.jobs import parse_taken
    from sidecar.worker.policy import Outcome

    ids = [enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(3)]
    taken = parse_taken(INBOUND, dequeue(rdb, 3, time.time() + 30, time.time() + 3600))
    outcomes = [
        Outcome(kind="done", status=200),
        Outcome(kind="retry", error="boom", retry_after=60.0),
        Outcome(kind="dead", error="gone"),
    ]
    Ledger(rdb, Scripts(rdb), settings, "exec1").record(list(zip(taken, outcomes, strict=True)))

    done, retry, dead = ids
    rq = {"connection": rdb, "serializer": JSONSerializer}
    assert FinishedJobRegistry(INBOUND, **rq).get_job_ids() == [done]
    assert ScheduledJobRegistry(INBOUND, **rq).get_job_ids() == [retry]
    assert FailedJobRegistry(INBOUND, **rq).get_job_ids() == [dead]
    assert StartedJobRegistry(INBOUND, **rq).get_job_ids() == []
    assert rdb.zcard(locks_key(INBOUND)) == 0
    statuses = [Job.fetch(i, **rq).get_status() for i in ids]
    assert statuses == [JobStatus.FINISHED, JobStatus.SCHEDULED, JobStatus.FAILED]
    assert settings.keep_completed_seconds - 2 <= rdb.ttl(JOB_PREFIX + done)
    assert rdb.ttl(JOB_PREFIX + done) <= settings.keep_completed_seconds
    assert rdb.ttl(JOB_PREFIX + retry) == -1  # a scheduled retry never expires
    assert settings.keep_failed_seconds - 2 <= rdb.ttl(JOB_PREFIX + dead)
    assert rdb.ttl(JOB_PREFIX + dead) <= settings.keep_failed_seconds
    assert rdb.get(DEFAULT_KEYS.delivered_prefix + done) == b"1"
    assert rdb.ttl(DEFAULT_KEYS.delivered_prefix + done) == rdb.ttl(JOB_PREFIX + done)
    assert (
        rdb.exists(DEFAULT_KEYS.delivered_prefix + retry)
        + rdb.exists(DEFAULT_KEYS.delivered_prefix + dead)
        == 0
    )


# --- sweep_stalled.lua --------------------------------------------------------------------


def sweep(client: redis.Redis, now: float, max_stalled: int = 1, batch: int = 100) -> list:
    return Scripts(client).sweep_stalled(
        keys=[
            locks_key(INBOUND),
            queue_key(INBOUND),
            registry_key("wip", INBOUND),
            "sidecar:test:stalled-out",
        ],
        args=[now, max_stalled, JOB_PREFIX, batch],
    )


def test_sweep_takes_only_expired_locks_and_at_most_a_batch(
    rdb: redis.Redis, settings: Settings
) -> None:
    ids = [enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(3)]
    dequeue(rdb, 3, lock_deadline=100.0, wip_score=FAR)
    rdb.zadd(locks_key(INBOUND), {ids[0]: 50.0, ids[1]: 60.0, ids[2]: 500.0})  # 2: still held

    assert sweep(rdb, now=200.0, batch=1) == [1, 0]
    assert sweep(rdb, now=200.0, batch=5) == [1, 0]

    assert rdb.zrange(locks_key(INBOUND), 0, -1) == [ids[2].encode()]
    assert StartedJobRegistry(INBOUND, connection=rdb).get_job_ids() == [ids[2]]
    assert [i.decode() for i in rdb.lrange(queue_key(INBOUND), 0, -1)] == [ids[1], ids[0]]
    assert [status(rdb, i) for i in ids] == ["queued", "queued", "started"]
    assert rdb.ttl(JOB_PREFIX + ids[0]) == -1


def test_sweep_of_a_lock_whose_job_is_gone_only_drops_the_lock(rdb: redis.Redis) -> None:
    rdb.zadd(locks_key(INBOUND), {"gone": 1.0})

    assert sweep(rdb, now=200.0) == [0, 0]
    assert rdb.keys("*") == []  # no job hash re-created, no list entry


def test_a_job_stalled_too_often_goes_to_the_stalled_out_list_only(
    rdb: redis.Redis, settings: Settings
) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    dequeue(rdb, 1, lock_deadline=100.0, wip_score=FAR)
    rdb.hset(JOB_PREFIX + job_id, "sidecar_stalled", 1)

    assert sweep(rdb, now=200.0, max_stalled=1) == [0, 1]

    assert rdb.lrange("sidecar:test:stalled-out", 0, -1) == [job_id.encode()]
    assert rdb.llen(queue_key(INBOUND)) == 0
    assert rdb.hget(JOB_PREFIX + job_id, "sidecar_stalled") == b"2"
    assert rdb.hget(JOB_PREFIX + job_id, "sidecar_attempt") == b"0"
    assert status(rdb, job_id) == "started"  # the caller dead-letters it
    assert rdb.zcard(registry_key("wip", INBOUND)) == rdb.zcard(locks_key(INBOUND)) == 0


# --- promote_scheduled.lua ----------------------------------------------------------------


def promote(client: redis.Redis, now: float, batch: int, enqueued_at: str) -> int:
    return Scripts(client).promote_scheduled(
        keys=[registry_key("scheduled", INBOUND), queue_key(INBOUND)],
        args=[now, batch, JOB_PREFIX, enqueued_at],
    )


def test_promote_moves_at_most_a_batch_of_due_jobs_in_due_order(
    rdb: redis.Redis, settings: Settings
) -> None:
    ids = [enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(4)]
    rdb.delete(queue_key(INBOUND))
    rdb.zadd(registry_key("scheduled", INBOUND), {ids[0]: 30, ids[1]: 10, ids[2]: 20, ids[3]: 99})

    assert promote(rdb, now=50, batch=2, enqueued_at="2026-01-02T03:04:05.000006Z") == 2

    assert [i.decode() for i in rdb.lrange(queue_key(INBOUND), 0, -1)] == [ids[1], ids[2]]
    assert ScheduledJobRegistry(INBOUND, connection=rdb).get_job_ids() == [ids[0], ids[3]]
    promoted = rdb.hgetall(JOB_PREFIX + ids[1])
    assert (promoted[b"status"], promoted[b"enqueued_at"]) == (
        b"queued",
        b"2026-01-02T03:04:05.000006Z",
    )
    assert status(rdb, ids[0]) == "queued"  # untouched: still as enqueued
    assert rdb.hget(JOB_PREFIX + ids[0], "enqueued_at") != b"2026-01-02T03:04:05.000006Z"
    assert rdb.ttl(JOB_PREFIX + ids[1]) == -1


# --- trim_registry.lua --------------------------------------------------------------------


def test_trim_registry_deletes_the_oldest_jobs_beyond_the_cap(rdb: redis.Redis) -> None:
    key = registry_key("finished", INBOUND)
    for n in range(4):
        rdb.hset(f"{JOB_PREFIX}j{n}", "status", "finished")
        rdb.zadd(key, {f"j{n}": FAR + n})  # expiry times

    assert Scripts(rdb).trim_registry(keys=[key], args=[1, JOB_PREFIX]) == 3

    assert FinishedJobRegistry(INBOUND, connection=rdb).get_job_ids() == ["j3"]
    assert rdb.keys(f"{JOB_PREFIX}*") == [f"{JOB_PREFIX}j3".encode()]
    assert Scripts(rdb).trim_registry(keys=[key], args=[1, JOB_PREFIX]) == 0
    assert Scripts(rdb).trim_registry(keys=[key], args=[5, JOB_PREFIX]) == 0
    assert rdb.exists(f"{JOB_PREFIX}j3") == 1


def test_the_ledger_trims_both_registries_to_their_own_caps(
    rdb: redis.Redis, redis_url: str
) -> None:
    settings = load_settings(
        _env_file=None,
        REDIS_URL=redis_url,
        SIDECAR_KEEP_COMPLETED_COUNT=2,
        SIDECAR_KEEP_FAILED_COUNT=1,
    )
    for kind in ("finished", "failed"):
        for n in range(3):
            rdb.hset(f"{JOB_PREFIX}{kind}{n}", "status", kind)
            rdb.zadd(registry_key(kind, INBOUND), {f"{kind}{n}": FAR + n})

    Ledger(rdb, Scripts(rdb), settings, "exec1").trim(INBOUND)

    assert FinishedJobRegistry(INBOUND, connection=rdb).get_job_ids() == ["finished1", "finished2"]
    assert FailedJobRegistry(INBOUND, connection=rdb).get_job_ids() == ["failed2"]
    assert sorted(rdb.keys(f"{JOB_PREFIX}*")) == [
        f"{JOB_PREFIX}{n}".encode() for n in ("failed2", "finished1", "finished2")
    ]


# --- trim_dead_letters.lua ----------------------------------------------------------------

DLQ_LIST = "rq:queue:flrts:dead-letter"
BY_QUEUE, INDEX = DEFAULT_KEYS.dlq_by_queue_prefix, DEFAULT_KEYS.dlq_index_prefix


def dead_letter(client: redis.Redis, entry_id: str, job_id: str, written: float) -> None:
    """An entry as add_dead_letter leaves it: list id, hash with summary, zset, index."""
    summary = f'{{"queue":"{INBOUND}","jobId":"{job_id}"}}'
    client.rpush(DLQ_LIST, entry_id)
    client.hset(JOB_PREFIX + entry_id, mapping={"status": "queued", SUMMARY_FIELD: summary})
    client.zadd(BY_QUEUE + INBOUND, {entry_id: written})
    client.set(INDEX + job_id, entry_id)


def trim(client: redis.Redis, keep: int, oldest: float, batch: int = 100) -> int:
    return Scripts(client).trim_dead_letters(
        keys=[DLQ_LIST, BY_QUEUE + INBOUND, BY_QUEUE + "other"],
        args=[keep, oldest, JOB_PREFIX, INDEX, SUMMARY_FIELD, batch, BY_QUEUE],
    )


def test_trim_drops_expired_entries_from_the_list_and_the_zsets_only(rdb: redis.Redis) -> None:
    dead_letter(rdb, "e1", "j1", written=10.0)
    dead_letter(rdb, "e2", "j2", written=20.0)
    rdb.delete(JOB_PREFIX + "e1", INDEX + "j1")  # e1 expired (its hash and index had a TTL)

    assert trim(rdb, keep=10, oldest=15.0) == 1

    assert rdb.lrange(DLQ_LIST, 0, -1) == [b"e2"]
    assert rdb.zrange(BY_QUEUE + INBOUND, 0, -1) == [b"e2"]  # older than 15: dropped
    assert rdb.get(INDEX + "j2") == b"e2" and rdb.exists(JOB_PREFIX + "e2") == 1


def test_trim_deletes_the_oldest_beyond_the_cap_with_member_and_index(rdb: redis.Redis) -> None:
    for n in range(4):
        dead_letter(rdb, f"e{n}", f"j{n}", written=100.0 + n)
    rdb.set(INDEX + "j1", "replayed-later")  # an index now naming another entry: kept

    assert trim(rdb, keep=1, oldest=0.0, batch=2) == 2  # at most a batch per call

    assert rdb.lrange(DLQ_LIST, 0, -1) == [b"e2", b"e3"]
    assert rdb.exists(JOB_PREFIX + "e0", JOB_PREFIX + "e1", INDEX + "j0") == 0
    assert rdb.get(INDEX + "j1") == b"replayed-later"
    assert rdb.zrange(BY_QUEUE + INBOUND, 0, -1) == [b"e2", b"e3"]

    assert trim(rdb, keep=1, oldest=0.0) == 1
    assert rdb.lrange(DLQ_LIST, 0, -1) == [b"e3"]
    assert rdb.exists(JOB_PREFIX + "e3", INDEX + "j3") == 2
    assert trim(rdb, keep=1, oldest=0.0) == 0


def test_trim_deletes_an_entry_beyond_the_cap_whose_summary_is_unreadable(
    rdb: redis.Redis,
) -> None:
    dead_letter(rdb, "e0", "j0", written=1.0)
    dead_letter(rdb, "e1", "j1", written=2.0)
    rdb.hset(JOB_PREFIX + "e0", SUMMARY_FIELD, "not json")

    assert trim(rdb, keep=1, oldest=0.0) == 1

    assert rdb.lrange(DLQ_LIST, 0, -1) == [b"e1"]
    assert rdb.exists(JOB_PREFIX + "e0") == 0
