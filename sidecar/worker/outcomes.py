"""The arguments of lua/record.lua for one batch of finished attempts (see that script for
their layout): a few values for the batch, the keys of each queue in it, nine values per job.
A held job (kind "hold": n8n never got it) goes back to the head of its queue.
"""

from __future__ import annotations

import math
import time
import zlib

from sidecar.backend.keys import keys_for
from sidecar.events import STREAM_MAXLEN, encode_data
from sidecar.queues import stats
from sidecar.queues.jobs import (
    JOB_PREFIX,
    TakenJob,
    locks_key,
    queue_key,
    registry_key,
)
from sidecar.settings import Settings
from sidecar.worker.delivery import without_answer_body
from sidecar.worker.policy import Outcome

ERROR_IN_EVENT_CHARS = 300


class RecordArgs:
    """Collects the ARGV of record.lua: `add` each job with its final kind, then `argv`.

    Parameters: `settings` (retention TTLs), `exec_id` (this worker's execution id),
    `ended_at` (RQ timestamp of the batch)."""

    def __init__(self, settings: Settings, exec_id: str, ended_at: str) -> None:
        self.done_ttl = math.ceil(settings.keep_completed_seconds)
        self.failed_ttl = math.ceil(settings.keep_failed_seconds)
        keys = keys_for(settings)
        self.head = [ended_at, exec_id, JOB_PREFIX, keys.delivered_prefix, self.done_ttl]
        self.head += [self.failed_ttl, keys.events, STREAM_MAXLEN]
        self.head += [stats.BUCKET_TTL_SECONDS, stats.SAMPLE_SIZE]
        self.minute = int(time.time() // 60)
        self.kept_error = without_answer_body if settings.encryption_keys else str
        self.queues: dict[str, int] = {}  # queue -> its number in the script (from 1)
        self.jobs: list = []

    def add(self, job: TakenJob, outcome: Outcome, kind: str, retry_delay: float = 0.0) -> None:
        """One job reaching `kind` (done, retry, hold or dead); `retry_delay` in seconds for a
        retry."""
        number = self.queues.setdefault(job.queue, len(self.queues) + 1)
        ms = outcome.duration * 1000
        error = self.kept_error(outcome.error)
        if kind == "done":
            row = [outcome.status or 0, "", "", time.time() + self.done_ttl]
        elif kind == "retry":
            row = ["", error, "", time.time() + retry_delay]
        elif kind == "hold":
            row = ["", error, "", 0]
        else:
            row = ["", error, zlib.compress(error.encode()), time.time() + self.failed_ttl]
        event = event_data(job, outcome, kind, ms, error) if kind in ("done", "dead") else ""
        self.jobs += [number, kind, job.id, *row, round(ms, 3), event]

    def argv(self) -> list:
        """Every argument, in the script's order."""
        keys: list = []
        for queue in self.queues:
            keys += [
                registry_key("wip", queue),
                locks_key(queue),
                registry_key("finished", queue),
                registry_key("scheduled", queue),
                registry_key("failed", queue),
                *stats.keys(queue, self.minute),
                queue_key(queue),
            ]
        return [*self.head, len(self.queues), *keys, *self.jobs]


def event_data(job: TakenJob, outcome: Outcome, kind: str, ms: float, error: str) -> str:
    """The `data` field of a job's completed / failed event (events.py's encoding)."""
    data = {
        "jobId": job.id,
        "queue": job.queue,
        "attempts": job.attempt,
        "status": outcome.status,
        "ms": round(ms, 1),
    }
    if kind == "dead":
        data["error"] = error[:ERROR_IN_EVENT_CHARS]
    return encode_data(data)
