"""The worker's outcome recording before lua/record.lua: about ten redis-py commands per job
in one MULTI/EXEC. Kept only as the reference the script's effects are compared with."""

from __future__ import annotations

import math
import time
import zlib

import redis

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.events import add_event
from sidecar.queues import stats
from sidecar.queues.deadletters.entries import add_dead_letter, entry_for
from sidecar.queues.jobs import (
    JOB_PREFIX,
    TakenJob,
    locks_key,
    registry_key,
    rq_now,
)
from sidecar.settings import Settings
from sidecar.worker.policy import Outcome, retry_delay

Pipe = redis.client.Pipeline


def record(
    client: redis.Redis, settings: Settings, exec_id: str, results: list[tuple[TakenJob, Outcome]]
) -> None:
    """Write every outcome in one MULTI/EXEC, as Ledger.record used to."""
    finished: dict[str, tuple[list[float], int]] = {}
    with client.pipeline(transaction=True) as pipe:
        for job, outcome in results:
            kind = final_kind(settings, job, outcome)
            pipe.zrem(registry_key("wip", job.queue), f"{job.id}:{exec_id}")
            pipe.zrem(locks_key(job.queue), job.id)
            if kind == "done":
                done(pipe, settings, job, outcome)
            elif kind == "retry":
                retry(pipe, settings, job, outcome)
            else:
                fail(pipe, settings, job.id, job.queue, outcome.error)
                entry = entry_for(job.queue, job.id, job.payload, outcome.error, job.attempt)
                add_dead_letter(client, pipe, settings, entry)
            if kind != "retry":
                note(pipe, finished, job, outcome, kind)
        for queue, (durations, failed) in finished.items():
            stats.record(pipe, queue, durations, failed)
        pipe.execute()


def final_kind(settings: Settings, job: TakenJob, outcome: Outcome) -> str:
    if outcome.kind == "retry" and job.attempt >= settings.job_attempts:
        return "dead"
    return outcome.kind


def note(pipe: Pipe, finished: dict, job: TakenJob, outcome: Outcome, kind: str) -> None:
    durations, failed = finished.setdefault(job.queue, ([], 0))
    durations.append(outcome.duration * 1000)
    finished[job.queue] = (durations, failed + (kind == "dead"))
    data = {
        "jobId": job.id,
        "queue": job.queue,
        "attempts": job.attempt,
        "status": outcome.status,
        "ms": round(outcome.duration * 1000, 1),
    }
    if kind == "dead":
        data["error"] = outcome.error[:300]
    add_event(pipe, DEFAULT_KEYS, "completed" if kind == "done" else "failed", data)


def done(pipe: Pipe, settings: Settings, job: TakenJob, outcome: Outcome) -> None:
    ttl = math.ceil(settings.keep_completed_seconds)
    key = JOB_PREFIX + job.id
    fields = {"status": "finished", "ended_at": rq_now(), "sidecar_status": outcome.status or 0}
    pipe.hset(key, mapping=fields)
    pipe.zadd(registry_key("finished", job.queue), {job.id: time.time() + ttl})
    pipe.expire(key, ttl)
    pipe.set(DEFAULT_KEYS.delivered_prefix + job.id, 1, ex=ttl)


def retry(pipe: Pipe, settings: Settings, job: TakenJob, outcome: Outcome) -> None:
    delay = retry_delay(outcome, job.attempt, settings.job_backoff_seconds)
    pipe.hset(JOB_PREFIX + job.id, mapping={"status": "scheduled", "sidecar_error": outcome.error})
    pipe.zadd(registry_key("scheduled", job.queue), {job.id: time.time() + delay})


def fail(pipe: Pipe, settings: Settings, job_id: str, queue: str, error: str) -> None:
    ttl = math.ceil(settings.keep_failed_seconds)
    key = JOB_PREFIX + job_id
    fields = {
        "status": "failed",
        "ended_at": rq_now(),
        "sidecar_error": error,
        "exc_info": zlib.compress(error.encode()),
    }
    pipe.hset(key, mapping=fields)
    pipe.zadd(registry_key("failed", queue), {job_id: time.time() + ttl})
    pipe.expire(key, ttl)
