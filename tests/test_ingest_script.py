"""ingest.lua against real Redis: dedup, the per-user moving window, and a job stored exactly
as RQ stores one — in one round trip."""

from __future__ import annotations

import json
import time
import zlib
from datetime import UTC, datetime

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from sidecar.backend.scripts import Scripts
from sidecar.capture import CapturedRequest
from sidecar.errors import BackendUnavailable, Duplicate, RateLimited
from sidecar.guards.dedup import claim_key
from sidecar.guards.ratelimit import UserWindow
from sidecar.queues import jobs
from sidecar.queues.admission import Admission, admit
from sidecar.queues.backpressure import QueueFull
from sidecar.queues.intake import Intake
from sidecar.queues.jobhash import JobHash
from sidecar.queues.jobs import build_job, new_job_id, persist, queue_key
from sidecar.queues.wake import wake_key
from sidecar.routes import RateLimit
from sidecar.settings import Settings, load_settings

QUEUE = "flrts:webhooks:inbound"
PAYLOAD = {"method": "POST", "path": "/webhook/x", "body": "aGk="}
TIMESTAMPS = (b"created_at", b"enqueued_at")


@pytest.fixture
def settings() -> Settings:
    return load_settings(_env_file=None)


@pytest.fixture
def store(rdb: redis.Redis, settings: Settings):
    """store(identity, user=None, rule=RateLimit(3, 60), queue=QUEUE) admits one webhook;
    its job id."""
    script, job_hash = Scripts(rdb).ingest, JobHash(settings)

    def run(
        identity: str, user: str | None = None, rule: RateLimit | None = None, queue: str = QUEUE
    ) -> str:
        job_id = new_job_id()
        window = UserWindow(queue, user, rule or RateLimit(limit=3, window=60)) if user else None
        fields = job_hash.fields(queue, PAYLOAD, "POST /webhook/x")
        admit(script, rdb, Admission(queue, job_id, claim_key(queue, identity), 60, window, fields))
        return job_id

    return run


def server_micros(rdb: redis.Redis) -> int:
    seconds, micros = rdb.time()
    return seconds * 1_000_000 + micros


def test_a_second_copy_is_a_duplicate_of_the_first(store, rdb: redis.Redis) -> None:
    first = store("key:1", user="alice")
    with pytest.raises(Duplicate) as caught:
        store("key:1", user="alice")
    assert caught.value.job_id == first
    assert rdb.lrange(queue_key(QUEUE), 0, -1) == [first.encode()]
    assert rdb.llen(UserWindow(QUEUE, "alice", RateLimit(limit=3, window=60)).key) == 1


def test_the_limit_is_enforced_per_user_and_queue(store, rdb: redis.Redis) -> None:
    accepted = [store(f"key:{n}", user="alice") for n in range(3)]
    with pytest.raises(RateLimited) as caught:
        store("key:3", user="alice")
    assert caught.value.status == 429 and 59 <= caught.value.retry_after <= 60
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after)
    assert rdb.lrange(queue_key(QUEUE), 0, -1) == [job_id.encode() for job_id in accepted]
    store("key:4", user="bob")  # other users and queues are not affected
    store("key:4", user="alice", queue="flrts:other")
    store("key:5")  # no user: not limited per user


def test_a_refused_webhook_leaves_no_claim_and_is_not_counted(store, rdb: redis.Redis) -> None:
    rule = RateLimit(limit=1, window=60)
    first = store("key:1", user="carol", rule=rule)
    with pytest.raises(RateLimited):
        store("key:2", user="carol", rule=rule)
    assert rdb.exists(claim_key(QUEUE, "key:2")) == 0
    assert rdb.lrange(queue_key(QUEUE), 0, -1) == [first.encode()]
    assert rdb.keys("rq:job:*") == [f"rq:job:{first}".encode()]
    assert rdb.llen(UserWindow(QUEUE, "carol", rule).key) == 1


def test_retry_after_is_the_exact_wait_for_the_oldest_admission(store, rdb) -> None:
    rule = RateLimit(limit=2, window=10)
    key = UserWindow(QUEUE, "dave", rule).key
    now = server_micros(rdb)
    rdb.rpush(key, now - 2_200_000, now - 7_500_000)  # newest first: frees in 2.5 s
    with pytest.raises(RateLimited) as caught:
        store("key:1", user="dave", rule=rule)
    assert caught.value.retry_after == 3
    rdb.delete(key)
    rdb.rpush(key, now - 2_200_000, now - 10_500_000)  # the older one has left the window
    store("key:1", user="dave", rule=rule)
    assert rdb.llen(key) == 2  # trimmed to the limit


def test_the_window_moves_on_as_retry_after_said(store) -> None:
    rule = RateLimit(limit=3, window=2)
    for n in range(3):
        store(f"key:{n}", user="erin", rule=rule)
    with pytest.raises(RateLimited) as caught:
        store("key:3", user="erin", rule=rule)
    refused = time.time()  # Retry-After counts from the refusal, not from the first store
    assert 1 <= caught.value.retry_after <= 2
    time.sleep(max(0.0, refused + caught.value.retry_after - time.time()) + 0.05)
    store("key:3", user="erin", rule=rule)


def test_a_route_rule_has_its_own_window(store) -> None:
    store("key:1", user="frank", rule=RateLimit(limit=1, window=60))
    store("key:2", user="frank", rule=RateLimit(limit=2, window=60))
    store("key:4", user="frank", rule=RateLimit(limit=1, window=30))  # same limit, other window
    with pytest.raises(RateLimited) as caught:
        store("key:3", user="frank", rule=RateLimit(limit=1, window=60))
    assert 59 <= caught.value.retry_after <= 60


def test_an_idle_worker_gets_one_wake_up_token(store, rdb: redis.Redis) -> None:
    store("key:1")
    store("key:2")
    assert rdb.lrange(wake_key(QUEUE), 0, -1) == [b"1"]


def test_after_the_window_the_identity_is_claimed_for_a_new_job(store, rdb: redis.Redis) -> None:
    first = store("key:1")
    rdb.delete(claim_key(QUEUE, "key:1"))  # the dedup window is over
    second = store("key:1")
    assert second != first
    assert rdb.lrange(queue_key(QUEUE), 0, -1) == [first.encode(), second.encode()]


def test_the_job_hash_is_the_one_rq_stores(store, rdb: redis.Redis, settings: Settings) -> None:
    ours = store("key:1")
    theirs = build_job(rdb, settings, QUEUE, PAYLOAD, description="POST /webhook/x")
    with rdb.pipeline(transaction=True) as pipe:
        persist(pipe, QUEUE, theirs)
        pipe.execute()
    ours_hash, theirs_hash = rdb.hgetall(f"rq:job:{ours}"), rdb.hgetall(theirs.key)
    for field in TIMESTAMPS:
        assert len(ours_hash.pop(field)) == len(theirs_hash.pop(field))
    for stored in (ours_hash, theirs_hash):  # the same JSON; zlib windows differ (jobs.py)
        stored[b"data"] = zlib.decompress(stored[b"data"])
    assert ours_hash == theirs_hash
    job = Job.fetch(ours, connection=rdb, serializer=JSONSerializer)
    assert (job.func_name, list(job.args), job.origin) == (theirs.func_name, [PAYLOAD], QUEUE)
    assert [j.id for j in Queue(QUEUE, connection=rdb, serializer=JSONSerializer).jobs] == [
        ours,
        theirs.id,
    ]


def test_without_a_description_rq_describes_the_call(rdb, settings) -> None:
    sealed = {"sealed": "x" * 200}
    fields = JobHash(settings).fields(QUEUE, sealed)
    theirs = build_job(rdb, settings, QUEUE, sealed).to_dict()
    assert fields[fields.index("description") + 1] == theirs["description"]


def test_a_failed_store_leaves_no_claim_and_no_count(store, rdb: redis.Redis) -> None:
    rdb.set("rq:queues", "not a set")
    with pytest.raises(redis.ResponseError):
        store("key:1", user="gina")
    assert rdb.exists(claim_key(QUEUE, "key:1")) == 0
    assert rdb.exists(UserWindow(QUEUE, "gina", RateLimit(limit=3, window=60)).key) == 0


def test_intake_adds_events_for_refusals(rdb: redis.Redis) -> None:
    intake = Intake(rdb, load_settings(_env_file=None, SIDECAR_USER_RATE_LIMIT="1"))
    hook = CapturedRequest("POST", "/webhook/x", "", [("X-User-Id", "hank")], b"1")
    first = intake.enqueue(hook)
    with pytest.raises(Duplicate):
        intake.enqueue(hook)
    with pytest.raises(RateLimited):
        intake.enqueue(CapturedRequest("POST", "/webhook/x", "", [("X-User-Id", "hank")], b"2"))
    events = [(f[b"type"], json.loads(f[b"data"])) for _, f in rdb.xrange("sidecar:events")]
    assert [kind for kind, _ in events] == [b"duplicate", b"rate_limited"]
    assert events[0][1]["jobId"] == first.job_id
    assert events[1][1]["user"] == "hank"


def test_redis_out_of_memory_refuses_the_whole_script(rdb: redis.Redis) -> None:
    intake = Intake(rdb, load_settings(_env_file=None))
    hook = CapturedRequest("POST", "/webhook/x", "", [("X-User-Id", "ivy")], b"1")
    rdb.config_set("maxmemory", 1)
    try:
        with pytest.raises(BackendUnavailable):
            intake.enqueue(hook)
    finally:
        rdb.config_set("maxmemory", 0)
    assert rdb.keys("*") == []  # no claim, no count, no job: the sender's retry is new


@pytest.mark.parametrize("micros", [0, 7, 999_999])
def test_timestamps_are_in_rqs_format(monkeypatch: pytest.MonkeyPatch, micros: int) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, micros, tzinfo=UTC)
    monkeypatch.setattr(jobs, "datetime", type("Frozen", (), {"now": lambda tz: moment}))
    assert jobs.rq_now() == utcformat(moment)


def test_a_full_queue_is_refused_with_the_number_waiting(
    rdb: redis.Redis, settings: Settings
) -> None:
    script, job_hash = Scripts(rdb).ingest, JobHash(settings)
    fields = job_hash.fields(QUEUE, PAYLOAD, "POST /webhook/x")

    def admission(max_waiting: int, memory_full: bool = False) -> Admission:
        return Admission(QUEUE, new_job_id(), None, 0, None, fields, max_waiting, memory_full)

    for _ in range(3):
        admit(script, rdb, admission(max_waiting=3))
    with pytest.raises(QueueFull) as full:
        admit(script, rdb, admission(max_waiting=3))
    assert full.value.waiting == 3  # what Retry-After is computed from
    with pytest.raises(QueueFull):
        admit(script, rdb, admission(max_waiting=0, memory_full=True))
    assert rdb.llen(queue_key(QUEUE)) == 3
