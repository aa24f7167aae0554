"""RQ's hash of a newly queued job, built without RQ objects (the gateway's hot path).

The fields and their encodings are RQ's own: a template is taken once from the Job that
build_job + persist store (Job.to_dict with status queued, origin and enqueued_at), so it
follows the installed RQ. Per job only created_at, enqueued_at, origin, description (RQ's
call string when there is none) and data (see encode_data) are filled in. `status` comes
first, as persist writes it first.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from rq.job import JobStatus
from rq.utils import get_call_string

from sidecar.queues.jobs import DELIVER_FUNC, build_job, encode_data, rq_now
from sidecar.settings import Settings

PER_JOB = ("created_at", "enqueued_at", "origin", "description", "data")
SAMPLE = "sample"
CALL_STRING_LENGTH = 75  # as Job.get_call_string

Template = tuple[list, dict[str, int]]


class JobHash:
    """HSET arguments for queued jobs calling `func`, with the retention `settings`."""

    def __init__(self, settings: Settings, func: str = DELIVER_FUNC) -> None:
        self.func = func
        self.flat, self.slots = template(rq_sample(settings, func))

    def fields(self, queue: str, payload: dict, description: str | None = None) -> list:
        """field, value, field, value, … of a job `func(payload)` queued on `queue` now;
        without a description RQ describes the call (payload shortened to 75 characters)."""
        flat, slots = self.flat.copy(), self.slots
        now = rq_now()
        flat[slots["created_at"]] = flat[slots["enqueued_at"]] = now
        flat[slots["origin"]] = queue
        flat[slots["data"]] = encode_data(self.func, payload)
        flat[slots["description"]] = description or call_string(self.func, payload)
        return flat


def call_string(func: str, payload: dict) -> str:
    """RQ's description of a job that has none: `func(repr of payload, shortened)`."""
    return get_call_string(func, (payload,), {}, max_length=CALL_STRING_LENGTH)


def rq_sample(settings: Settings, func: str) -> dict:
    """Job.to_dict of a job as build_job + persist store it (no Redis needed)."""
    unused = redis.Redis()  # RQ wants a connection; building a job does not use it
    job = build_job(unused, settings, SAMPLE, {}, func=func, description=SAMPLE, job_id=SAMPLE)
    job.origin, job.enqueued_at = SAMPLE, datetime.now(UTC)
    with unused.pipeline() as discarded:  # buffers the HSET, never sent: no server needed
        job.set_status(JobStatus.QUEUED, pipeline=discarded)  # as persist does
    mapping = job.to_dict()
    return {"status": mapping.pop("status"), **mapping}


def template(sample: dict) -> Template:
    """A flat field/value list of `sample` and the value index of each per-job field."""
    flat: list = []
    slots: dict[str, int] = {}
    for field, value in sample.items():
        if field in PER_JOB:
            slots[field] = len(flat) + 1
        flat += [field, value.value if isinstance(value, JobStatus) else value]
    return flat, slots
