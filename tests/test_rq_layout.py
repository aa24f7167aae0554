"""Our jobs are RQ's jobs: a webhook stored by the intake (ingest.lua) and the same job
enqueued by RQ's own `Queue.enqueue` lay out alike — hash fields and their encodings, queue
list, queue set and registries — so an RQ that changes its layout fails here, not in
production. rq is pinned to the major these scripts are tested against (pyproject.toml)."""

from __future__ import annotations

import json
import math
import zlib

import pytest
import redis
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from sidecar.backend import rq_layout
from sidecar.capture import CapturedRequest
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import DELIVER_FUNC, SMALL_JOB_DATA, compress_job_data
from sidecar.settings import Settings, load_settings

QUEUE = "flrts:webhooks:inbound"
HOOK = CapturedRequest("POST", "/webhook/x", "", [("X-Request-Id", "r1")], b"hi")

# Fields RQ's Queue.enqueue writes that the intake deliberately does not, each reviewed:
DELIBERATELY_OMITTED: dict[str, str] = {}
# Fields the intake writes that RQ's Queue.enqueue does not, each reviewed:
DELIBERATELY_ADDED: dict[str, str] = {}
# Fields whose values differ per job (ids, times) or per path (our description names the
# webhook; RQ describes the call): compared by presence and format, not value.
PER_JOB = {"created_at", "enqueued_at", "data", "description"}


@pytest.fixture
def settings() -> Settings:
    return load_settings(_env_file=None)


def enqueue_with_rq(rdb: redis.Redis, settings: Settings, payload: dict) -> Job:
    """The same job as the intake stores, enqueued by RQ itself."""
    return Queue(QUEUE, connection=rdb, serializer=JSONSerializer).enqueue(
        DELIVER_FUNC,
        payload,
        job_timeout=math.ceil(settings.upstream_timeout_seconds) + 30,
        result_ttl=math.ceil(settings.keep_completed_seconds),
        failure_ttl=math.ceil(settings.keep_failed_seconds),
    )


@pytest.fixture
def both(rdb: redis.Redis, settings: Settings) -> tuple[str, str]:
    """(our job id, RQ's job id) of the same webhook."""
    ours = Intake(rdb, settings).enqueue(HOOK).job_id
    payload = Job.fetch(ours, connection=rdb, serializer=JSONSerializer).args[0]
    theirs = enqueue_with_rq(rdb, settings, payload).id
    return ours, theirs


def test_the_job_hashes_have_the_same_fields(rdb: redis.Redis, both: tuple[str, str]) -> None:
    ours, theirs = (set(rdb.hkeys(rq_layout.job_key(i))) for i in both)
    ours_names, theirs_names = {f.decode() for f in ours}, {f.decode() for f in theirs}
    assert theirs_names - ours_names == set(DELIBERATELY_OMITTED)
    assert ours_names - theirs_names == set(DELIBERATELY_ADDED)


def test_the_fields_hold_the_same_values(rdb: redis.Redis, both: tuple[str, str]) -> None:
    ours, theirs = (rdb.hgetall(rq_layout.job_key(i)) for i in both)
    for field in PER_JOB:
        assert field.encode() in ours and field.encode() in theirs
    for field in ("created_at", "enqueued_at"):
        assert len(ours[field.encode()]) == len(theirs[field.encode()])  # RQ's time format
    same = {k: v for k, v in ours.items() if k.decode() not in PER_JOB}
    assert same == {k: v for k, v in theirs.items() if k.decode() not in PER_JOB}


def test_rq_reads_our_job_back(rdb: redis.Redis, both: tuple[str, str]) -> None:
    ours, theirs = (Job.fetch(i, connection=rdb, serializer=JSONSerializer) for i in both)
    assert ours.get_status() == theirs.get_status() == JobStatus.QUEUED
    assert ours.origin == theirs.origin == QUEUE
    assert (ours.func_name, ours.args, ours.kwargs) == (theirs.func_name, theirs.args, {})
    assert ours.description == "POST /webhook/x"
    assert (ours.timeout, ours.result_ttl, ours.failure_ttl) == (
        theirs.timeout,
        theirs.result_ttl,
        theirs.failure_ttl,
    )


def test_the_queue_keys_are_rqs(rdb: redis.Redis, both: tuple[str, str]) -> None:
    queue = Queue(QUEUE, connection=rdb, serializer=JSONSerializer)
    assert rq_layout.queue_key(QUEUE) == queue.key
    assert queue.job_ids == list(both)
    assert rdb.smembers(rq_layout.QUEUES_KEY) == {queue.key.encode()}
    assert rq_layout.job_key(both[0]) == Job.key_for(both[0])


def test_the_registry_keys_are_rqs(rdb: redis.Redis) -> None:
    queue = Queue(QUEUE, connection=rdb, serializer=JSONSerializer)
    assert rq_layout.registry_key("wip", QUEUE) == StartedJobRegistry(queue=queue).key
    assert rq_layout.registry_key("finished", QUEUE) == FinishedJobRegistry(queue=queue).key
    assert rq_layout.registry_key("failed", QUEUE) == FailedJobRegistry(queue=queue).key
    assert rq_layout.registry_key("scheduled", QUEUE) == queue.scheduled_job_registry.key


@examples(max_examples=200, deadline=None)
@given(data=st.binary(max_size=40 * 1024) | st.text(max_size=20 * 1024).map(str.encode))
def test_job_data_of_any_size_is_what_rq_decompresses(data: bytes) -> None:
    # small job data gets a window of its own size; RQ reads it with plain zlib.decompress
    assert zlib.decompress(compress_job_data(data)) == data


def test_small_job_data_is_compressed_as_well_as_with_zlib_defaults() -> None:
    body = json.dumps([{"id": n, "text": "hello world", "ok": True} for n in range(150)]).encode()
    assert len(body) < SMALL_JOB_DATA
    assert len(compress_job_data(body)) <= len(zlib.compress(body)) * 1.1
