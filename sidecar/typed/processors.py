"""Processors of the typed queues: what each job sends to n8n, and what follows it.

`request_for` and `follow_ups` are pure (no Redis, no HTTP): a worker runs a typed job as

    request = request_for(operation, data, paths)      # None for reminders:schedule
    outcome, result = deliver(upstream, job_id, request, attempt)   # if request
    follow_ups(operation, data, outcome.kind, result, job_id)       # once done or dead

where a FollowUp is a "notify" request to deliver once (best effort) or a typed job to
enqueue, at `run_at` if set (`apply_follow_ups`). `run` does it all for a plain `rq worker`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sidecar.capture import CapturedRequest
from sidecar.settings import Settings
from sidecar.typed.text import one_line

if TYPE_CHECKING:
    from sidecar.upstream import Upstream
    from sidecar.worker.policy import Outcome

log = logging.getLogger("sidecar.typed")
RUN_FUNC = "sidecar.typed.processors.run"
NOTIFY = "notify"
OPERATION_HEADER = "X-Sidecar-Operation"
RESULT_BYTES = 64 * 1024
ERROR_CHARS = 300
SUBJECT_CHARS = 255
DEFAULT_PATHS: dict[str, str] = {
    "tasks:create": "/webhook/openproject-api",
    "tasks:update": "/webhook/openproject-api",
    "tasks:sync": "/webhook/openproject-api",
    "openproject:sync": "/webhook/openproject-api",
    "openproject:webhook": "/webhook/openproject-events",
    "telegram:outbound": "/webhook/telegram-outbound",
    "telegram:command": "/webhook/telegram-command",
    "reminders:send": "/webhook/send-reminder",
    NOTIFY: "/webhook/notify-user",
}
NO_REQUEST = frozenset({"reminders:schedule"})
# operation → the "operation" of the openproject-api body (openproject:sync: sync_<resource>)
API_OPERATIONS = {
    "tasks:create": "create_work_package",
    "tasks:update": "update_work_package",
    "tasks:sync": "sync_work_packages",
}
# operation → (what is done, in the user's words) for notifications; others notify nobody.
NOTIFIED = {
    "tasks:create": ("Task created", "Failed to create task"),
    "tasks:update": ("Task updated", "Failed to update task"),
    "tasks:sync": ("Task sync finished", "Failed to sync tasks"),
    "openproject:sync": ("OpenProject sync finished", "Failed to sync OpenProject"),
    "reminders:schedule": (None, "Failed to schedule reminder"),
    "reminders:send": (None, "Failed to send reminder"),
}


@dataclass(frozen=True)
class FollowUp:
    """Work that follows a job: a "notify" request or a typed job, due at `run_at` if set."""

    operation: str
    payload: dict
    run_at: datetime | None = None


def is_typed(payload: dict) -> bool:
    """True for an (unsealed) typed job payload {"operation", "data"}, not a captured webhook."""
    return isinstance(payload.get("operation"), str) and isinstance(payload.get("data"), dict)


def target_paths(paths: Mapping[str, str] | None = None) -> dict[str, str]:
    """DEFAULT_PATHS with `paths` laid over them; ValueError for a path not starting with /."""
    merged = {**DEFAULT_PATHS, **(paths or {})}
    for operation, path in merged.items():
        if not path.startswith("/"):
            raise ValueError(f"n8n path for {operation} must start with '/': {path!r}")
    return merged


def body_for(operation: str, data: dict) -> dict:
    """The JSON body n8n receives for `operation` with validated `data`."""
    if operation in API_OPERATIONS:
        return {"operation": API_OPERATIONS[operation], "data": data}
    if operation == "openproject:sync":
        return {"operation": f"sync_{data['resource']}", "data": data}
    if operation in DEFAULT_PATHS:
        return data
    raise KeyError(f"no processor for operation {operation!r}")


def request_for(
    operation: str, data: dict, paths: Mapping[str, str] | None = None
) -> CapturedRequest | None:
    """The call to n8n for a job of `operation` ("notify" too); None when it makes none."""
    if operation in NO_REQUEST:
        return None
    body = json.dumps(body_for(operation, data), ensure_ascii=False, separators=(",", ":"))
    path, _, query = target_paths(paths)[operation].partition("?")
    return CapturedRequest(
        method="POST",
        path=path,
        query=query,
        headers=[("Content-Type", "application/json"), (OPERATION_HEADER, operation)],
        body=body.encode("utf-8", errors="replace"),
    )


def _subject(operation: str, data: dict, result: dict | None) -> str:
    """What a notification names: n8n's `subject`, else the task title or id."""
    subject = (result or {}).get("subject")
    if isinstance(subject, str | int) and str(subject).strip():
        return one_line(str(subject), SUBJECT_CHARS)
    if operation == "tasks:create":
        return data["title"]
    if operation == "tasks:update":
        return data["changes"].get("title") or f"#{data['taskId']}"
    if operation == "openproject:sync":
        return data["resource"]
    return ""


def _message(operation: str, data: dict, outcome: str, result: dict | None) -> str | None:
    """The notification text for `outcome`, or None when this outcome notifies nobody."""
    done, failed = NOTIFIED[operation]
    if outcome == "dead":
        error = one_line(str((result or {}).get("error") or "unknown error"), ERROR_CHARS)
        return f"{failed}: {error}"
    if done is None:
        return None
    subject = _subject(operation, data, result)
    return f"{done}: {subject}" if subject else done


def notification(
    operation: str, data: dict, outcome: str, result: dict | None, job_id: str | None = None
) -> FollowUp | None:
    """The "notify" follow-up telling the job's user how it ended, if anyone is told."""
    if operation not in NOTIFIED or not data.get("userId"):
        return None
    message = _message(operation, data, outcome, result)
    if message is None:
        return None
    payload: dict[str, Any] = {"userId": data["userId"], "message": message}
    if job_id:
        payload["jobId"] = job_id
    payload["operation"] = operation
    payload["status"] = "completed" if outcome == "done" else "failed"
    return FollowUp(NOTIFY, payload)


def _reminder(data: dict, job_id: str | None) -> FollowUp:
    """The reminders:send job a reminders:schedule job leads to, due at remindAt."""
    payload = {"userId": data["userId"], "message": data["message"], "remindAt": data["remindAt"]}
    payload.update({k: data[k] for k in ("taskId", "chatId") if data.get(k) is not None})
    if job_id:
        payload["reminderId"] = job_id
    return FollowUp("reminders:send", payload, datetime.fromisoformat(data["remindAt"]))


def follow_ups(
    operation: str, data: dict, outcome: str, result: dict | None = None, job_id: str | None = None
) -> list[FollowUp]:
    """Notification and reminder following a "done" (n8n's answer) or "dead" ({"error"}) job."""
    found: list[FollowUp] = []
    if operation == "reminders:schedule" and outcome == "done":
        found.append(_reminder(data, job_id))
    note = notification(operation, data, outcome, result, job_id)
    if note is not None:
        found.append(note)
    return found


def parse_result(body: bytes) -> dict | None:
    """n8n's answer as a dict: a JSON object, the first object of a JSON array, else None."""
    try:
        value = json.loads(body[:RESULT_BYTES])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else None


def deliver(
    upstream: Upstream, job_id: str, request: CapturedRequest, attempt: int
) -> tuple[Outcome, dict | None]:
    """Send `request` to n8n once: the Outcome (done/retry/dead) and n8n's JSON answer."""
    from sidecar.worker.delivery import send_once

    outcome, body = send_once(upstream, job_id, request, attempt)
    return outcome, parse_result(body) if outcome.kind == "done" else None


class TypedJobFailed(Exception):
    """Raised by `run` so that a plain RQ worker records the failure."""


def enqueue_follow_up(client: Any, settings: Settings, follow: FollowUp, parent_id: str) -> str:
    """Store a typed follow-up as an RQ job at `run_at`, at most once per parent job."""
    from rq.job import JobStatus

    from sidecar.crypto import PayloadCipher
    from sidecar.guards.dedup import job_id_for
    from sidecar.queues.jobs import JOB_PREFIX, build_job, persist, registry_key
    from sidecar.queues.names import queue_name

    queue = queue_name(settings.queue_prefix, follow.operation)
    job_id = job_id_for(queue, f"follow-up:{parent_id}")
    if client.exists(JOB_PREFIX + job_id):
        return job_id
    payload = {"operation": follow.operation, "data": follow.payload}
    stored = PayloadCipher(settings.encryption_keys).seal(payload)
    job = build_job(client, settings, queue, stored, func=RUN_FUNC, job_id=job_id)
    with client.pipeline(transaction=True) as pipe:
        if follow.run_at is None:
            persist(pipe, queue, job)
        else:
            job.origin = queue
            job.set_status(JobStatus.SCHEDULED, pipeline=pipe)
            job.save(pipeline=pipe)
            pipe.zadd(registry_key("scheduled", queue), {job_id: follow.run_at.timestamp()})
        pipe.execute()
    return job_id


def apply_follow_ups(
    client: Any, settings: Settings, upstream: Upstream, follows: list[FollowUp], parent_id: str
) -> None:
    """Deliver notifications once (failures logged, never raised); enqueue typed follow-ups."""
    for follow in follows:
        if follow.operation != NOTIFY:
            enqueue_follow_up(client, settings, follow, parent_id)
            continue
        request = request_for(NOTIFY, follow.payload, settings.typed_paths)
        assert request is not None
        outcome, _ = deliver(upstream, f"{parent_id}-notify", request, attempt=1)
        if outcome.kind != "done":
            log.warning("notifying user of job %s failed: %s", parent_id, outcome.error)


@cache
def _runtime() -> tuple[Settings, Upstream]:
    """Settings and an n8n client for plain RQ workers (read once per process)."""
    from sidecar.settings import load_settings
    from sidecar.upstream import Upstream

    settings = load_settings()
    return settings, Upstream(settings.n8n_url, settings.upstream_timeout_seconds, pool_size=4)


def run(payload: dict) -> dict:
    """RQ job function for typed jobs: deliver, then notify and enqueue what follows."""
    from rq import get_current_job

    from sidecar.crypto import PayloadCipher

    job = get_current_job()
    job_id, client = (job.id, job.connection) if job else ("unknown", None)
    settings, upstream = _runtime()
    payload = PayloadCipher(settings.encryption_keys).unseal(payload)
    operation, data = payload["operation"], payload["data"]
    request = request_for(operation, data, settings.typed_paths)
    outcome, result = None, None
    if request is not None:
        outcome, result = deliver(upstream, job_id, request, attempt=1)
        if outcome.kind != "done":
            failed = follow_ups(operation, data, "dead", {"error": outcome.error}, job_id)
            apply_follow_ups(client, settings, upstream, failed, job_id)
            raise TypedJobFailed(outcome.error)
    done = follow_ups(operation, data, "done", result, job_id)
    apply_follow_ups(client, settings, upstream, done, job_id)
    return {"n8nStatus": outcome.status if outcome else None, "result": result}
