"""Admission: the one round trip that lets a job in. sidecar/backend/lua/ingest.lua claims
the dedup identity, checks and counts the user's moving window (sidecar/guards/ratelimit.py),
checks the queue has room (sidecar/queues/backpressure.py) and stores the RQ job under a
fresh id, atomically. Only the intake (sidecar/queues/intake.py) calls it.

A refused job leaves nothing behind: no claim (so the sender's retry is not a duplicate),
no count, no job. An accepted one always has its own job hash: a claim only maps the
identity to the first job's id, it never makes two webhooks share a job.

(Named for what it decides; it was queues/ingest.py, a near-synonym of ingress and intake.)
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.commands.core import Script

from sidecar.backend import rq_layout
from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for_queue
from sidecar.errors import Duplicate, RateLimited
from sidecar.guards.ratelimit import UserWindow
from sidecar.queues.backpressure import QueueFull
from sidecar.queues.jobs import JOB_PREFIX, queue_key
from sidecar.queues.wake import wake_key


@dataclass(frozen=True)
class Admission:
    """What ingest.lua needs for one job: new job `job_id` with hash `fields` on `queue`,
    claimed at `claim` for `claim_seconds` (no claim: None, 0), counted in `window` when
    there is a user; refused (QueueFull) when `max_waiting` jobs wait (0: no limit) or
    `memory_full`."""

    queue: str
    job_id: str
    claim: str | None
    claim_seconds: int
    window: UserWindow | None
    fields: list
    max_waiting: int = 0
    memory_full: bool = False


def admit(script: Script, client: redis.Redis, admission: Admission) -> None:
    """Store the job in one round trip; Duplicate, RateLimited, QueueFull or
    BackendUnavailable."""
    with translate():
        reply = script(keys=script_keys(admission), args=script_args(admission), client=client)
    outcome_of(reply)


def outcome_of(reply: list) -> None:
    """Raise what ingest.lua's `reply` refused: Duplicate, RateLimited or QueueFull."""
    outcome = reply[0]
    if outcome == b"duplicate":
        raise Duplicate(reply[1].decode())
    if outcome == b"limited":
        raise RateLimited(int(reply[1]))
    if outcome == b"full":
        raise QueueFull(int(reply[1]))


def script_keys(admission: Admission) -> list[str]:
    """KEYS of ingest.lua, in its order."""
    keys = keys_for_queue(admission.queue)
    window = admission.window.key if admission.window else keys.no_window
    return [
        admission.claim or keys.no_claim,
        window,
        JOB_PREFIX + admission.job_id,
        rq_layout.QUEUES_KEY,
        queue_key(admission.queue),
        wake_key(admission.queue),
        keys.backlog_full,
    ]


def script_args(admission: Admission) -> list:
    """ARGV of ingest.lua, in its order."""
    rule = admission.window.rule if admission.window else None
    limit, window = (rule.limit, rule.window) if rule else (0, 0)
    claim_seconds = admission.claim_seconds if admission.claim else 0
    full = "1" if admission.memory_full else "0"
    head = [admission.job_id, claim_seconds, limit, window, admission.max_waiting, full]
    return [*head, *admission.fields]
