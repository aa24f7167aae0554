"""What follows a typed job, as data: the notification telling its user how it ended and the
reminder a reminders:schedule job leads to (`follow_ups`). Pure: the worker delivers the
notifications and has the intake store the follow-up jobs (sidecar/worker/typed_jobs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sidecar.typed.requests import NOTIFY
from sidecar.typed.text import one_line

ERROR_CHARS = 300
SUBJECT_CHARS = 255
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
