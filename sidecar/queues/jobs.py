"""Jobs are ordinary RQ jobs (JSON serializer): `rq info` and rq-dashboard show them.

A captured webhook is stored as the single argument of `sidecar.worker.delivery.deliver`.
RQ's keys are used as RQ lays them out; the sidecar adds a few fields to the job hash
(`sidecar_attempt`, `sidecar_stalled`, `sidecar_exec`, `sidecar_error`) and its own keys
under the sidecar's namespace (locks, delivered markers, limiter windows: backend/keys.py).
RQ's own keys come from RQ (backend/rq_layout.py).
"""

from __future__ import annotations

import json
import math
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from sidecar.backend import rq_layout
from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for_queue
from sidecar.queues.wake import leave_token
from sidecar.settings import Settings

DELIVER_FUNC = "sidecar.worker.delivery.deliver"
JOB_PREFIX = rq_layout.JOB_PREFIX
queue_key = rq_layout.queue_key
registry_key = rq_layout.registry_key


SMALL_JOB_DATA = 16 * 1024  # bytes of job data compressed with a window of their own size
MIN_WINDOW_BITS = 9  # zlib's smallest window for deflate (512 bytes)
SMALL_HASH = 2  # zlib memLevel: a 512-entry hash table, plenty for 16 KB


def locks_key(queue: str) -> str:
    """The sidecar's zset of lock deadlines of jobs in flight."""
    return keys_for_queue(queue).locks(queue)


def rq_now() -> str:
    """The current time in RQ's timestamp format (rq.utils.utcformat, twice as fast)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


def rq_queue(client: redis.Redis, name: str) -> Queue:
    """An RQ Queue object with the JSON serializer."""
    return Queue(name, connection=client, serializer=JSONSerializer)


def new_job_id() -> str:
    """A fresh job id (no ':' — RQ uses it to separate execution ids)."""
    return uuid.uuid4().hex


def build_job(
    client: redis.Redis,
    settings: Settings,
    queue: str,
    payload: dict,
    func: str = DELIVER_FUNC,
    description: str | None = None,
    job_id: str | None = None,
) -> Job:
    """An RQ job (not yet stored) calling `func(payload)`, with the retention settings."""
    return rq_queue(client, queue).create_job(
        func=func,
        args=(payload,),
        job_id=job_id or new_job_id(),
        timeout=math.ceil(settings.upstream_timeout_seconds) + 30,
        result_ttl=math.ceil(settings.keep_completed_seconds),
        failure_ttl=math.ceil(settings.keep_failed_seconds),
        description=description,
    )


def persist(pipe: Pipeline, queue: str, job: Job) -> None:
    """RQ's enqueue steps, written on `pipe`: register the queue, save the job, push its id;
    and a wake-up token for an idle worker."""
    job.origin = queue
    job.enqueued_at = datetime.now(UTC)
    job.set_status(JobStatus.QUEUED, pipeline=pipe)
    job.save(pipeline=pipe)
    pipe.sadd(rq_layout.QUEUES_KEY, queue_key(queue))
    pipe.rpush(queue_key(queue), job.id)
    leave_token(pipe, queue)


def enqueue_payload(client: redis.Redis, settings: Settings, queue: str, payload: dict) -> str:
    """Store `payload` as a delivery job on `queue` in one round trip; return its id."""
    description = f"{payload.get('method', '')} {payload.get('path', '')}".strip() or None
    job = build_job(client, settings, queue, payload, description=description)
    with translate(), client.pipeline(transaction=True) as pipe:
        persist(pipe, queue, job)
        pipe.execute()
    return job.id


@dataclass(frozen=True)
class TakenJob:
    """A job taken by a worker: its payload, which attempt this is, and whether a previous
    run already delivered it (then it is only marked finished)."""

    id: str
    queue: str
    payload: dict
    attempt: int
    delivered: bool


def encode_data(func: str, payload: dict) -> bytes:
    """RQ's job data for `func(payload)`: zlib of the JSON (func, instance, args, kwargs)."""
    return compress_job_data(json.dumps((func, None, [payload], {})).encode())


def compress_job_data(data: bytes) -> bytes:
    """zlib of RQ job data (RQ reads it with zlib.decompress, whatever the window size).

    zlib.compress sets up a 32 KB window and a 64 KB hash table for every call, about 40 µs:
    most of the cost for a small webhook. Data up to SMALL_JOB_DATA gets a window just as
    large as itself (nothing it could match is lost) and a small hash table."""
    if len(data) > SMALL_JOB_DATA:
        return zlib.compress(data)
    window_bits = max(MIN_WINDOW_BITS, len(data).bit_length())
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, window_bits, SMALL_HASH)
    return packer.compress(data) + packer.flush()


def decode_data(data: bytes) -> dict:
    """The payload argument from RQ's compressed, JSON-serialized job data."""
    _func, _instance, args, _kwargs = json.loads(zlib.decompress(data))
    return args[0]


def parse_taken(queue: str, flat: list) -> list[TakenJob]:
    """Turn dequeue.lua's flat reply into TakenJobs."""
    return [
        TakenJob(
            id=flat[i].decode(),
            queue=queue,
            payload=decode_data(flat[i + 1]),
            attempt=int(flat[i + 2]),
            delivered=bool(int(flat[i + 3])),
        )
        for i in range(0, len(flat), 4)
    ]
