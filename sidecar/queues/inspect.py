"""Looking up one job for GET /v1/jobs/{id}: status, attempts, result or error."""

from __future__ import annotations

import redis

from sidecar.backend.connection import translate
from sidecar.errors import NotFound
from sidecar.queues.jobs import JOB_PREFIX

FIELDS = (
    "origin",
    "status",
    "sidecar_attempt",
    "sidecar_status",
    "sidecar_error",
    "enqueued_at",
    "started_at",
    "ended_at",
    "sidecar_replayed_from",
)


def job_view(client: redis.Redis, job_id: str) -> dict[str, object]:
    """The public view of job `job_id`; NotFound when Redis has no such job."""
    values = None
    if job_id.isalnum():
        with translate():
            values = client.hmget(JOB_PREFIX + job_id, FIELDS)
    if not values or values[1] is None:
        raise NotFound(f"no job with id {job_id!r} (unknown, or past its retention)")
    row = {
        name: (v.decode() if isinstance(v, bytes) else v)
        for name, v in zip(FIELDS, values, strict=True)
    }
    status = row["status"]
    return {
        "id": job_id,
        "queue": row["origin"],
        "status": status,
        "attempts": int(row["sidecar_attempt"] or 0),
        "result": {"n8nStatus": int(row["sidecar_status"])}
        if status == "finished" and row["sidecar_status"]
        else None,
        "error": row["sidecar_error"] or None,
        "enqueuedAt": row["enqueued_at"] or None,
        "startedAt": row["started_at"] or None,
        "endedAt": row["ended_at"] or None,
        "replayedFrom": row["sidecar_replayed_from"],
    }
