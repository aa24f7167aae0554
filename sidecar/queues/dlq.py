"""The dead-letter queue `{prefix}:dead-letter`: RQ jobs holding what could not be delivered.

Each entry's payload is {"queue", "jobId", "data", "error", "attempts", "failedAt"}. Entries
are never run by workers; `dlq replay` (deadletters.py) puts them back on their queue.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from redis.client import Pipeline

from sidecar.queues.jobs import build_job, persist
from sidecar.queues.names import dead_letter_queue
from sidecar.settings import Settings

DEAD_LETTER_FUNC = "sidecar.queues.dlq.dead_letter_entry"


def dead_letter_entry(entry: dict) -> None:
    """Job function of dead-letter entries: they are kept, not run."""
    raise RuntimeError("dead-letter entries are not run; replay them with `n8n-sidecar dlq replay`")


def entry_for(queue: str, job_id: str, payload: dict, error: str, attempts: int) -> dict:
    """The dead-letter payload of SPEC §5: queue, data, error, attempts, failedAt."""
    return {
        "queue": queue,
        "jobId": job_id,
        "data": payload,
        "error": error,
        "attempts": attempts,
        "failedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def add_dead_letter(client: redis.Redis, pipe: Pipeline, settings: Settings, entry: dict) -> str:
    """Queue a dead-letter entry on `pipe` (written when the pipeline executes)."""
    queue = dead_letter_queue(settings.queue_prefix)
    description = f"dead letter of {entry['queue']} job {entry['jobId']}"
    job = build_job(client, settings, queue, entry, DEAD_LETTER_FUNC, description)
    persist(pipe, queue, job)
    return job.id
