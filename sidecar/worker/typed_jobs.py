"""Running typed jobs: the worker orchestrates what sidecar/typed describes as data.

A typed job is run as

    request = request_for(operation, data, paths)      # None for reminders:schedule
    outcome, result = deliver(upstream, job_id, request, attempt)   # if request
    follow_ups(operation, data, outcome.kind, result, job_id)       # once done or dead

where a FollowUp is a "notify" request delivered once here (best effort) or a typed job the
intake stores, at `run_at` if set (`apply_follow_ups`). `run` does it all for a plain
`rq worker`; it is the RQ function every typed job hash names, imported by RQ through
sidecar/typed/processors.py (RUN_FUNC).
"""

from __future__ import annotations

import logging
from functools import cache

import redis
from rq import get_current_job

from sidecar.capture import CapturedRequest
from sidecar.crypto import PayloadCipher
from sidecar.queues.intake import Intake
from sidecar.settings import Settings, load_settings
from sidecar.typed.follow_ups import FollowUp, follow_ups
from sidecar.typed.requests import NOTIFY, parse_result, request_for
from sidecar.upstream import Upstream
from sidecar.worker.delivery import send_once
from sidecar.worker.policy import Outcome

log = logging.getLogger("sidecar.typed")


def deliver(
    upstream: Upstream, job_id: str, request: CapturedRequest, attempt: int
) -> tuple[Outcome, dict | None]:
    """Send `request` to n8n once: the Outcome (done/retry/dead) and n8n's JSON answer."""
    outcome, body = send_once(upstream, job_id, request, attempt)
    return outcome, parse_result(body) if outcome.kind == "done" else None


class TypedJobFailed(Exception):
    """Raised by `run` so that a plain RQ worker records the failure."""


def apply_follow_ups(
    intake: Intake, upstream: Upstream, follows: list[FollowUp], parent_id: str
) -> None:
    """Deliver notifications once (failures logged, never raised); have the intake store
    typed follow-ups."""
    for follow in follows:
        if follow.operation != NOTIFY:
            intake.enqueue_follow_up(follow, parent_id)
            continue
        request = request_for(NOTIFY, follow.payload, intake.settings.typed_paths)
        assert request is not None
        outcome, _ = deliver(upstream, f"{parent_id}-notify", request, attempt=1)
        if outcome.kind != "done":
            log.warning("notifying user of job %s failed: %s", parent_id, outcome.error)


@cache
def _runtime() -> tuple[Settings, Upstream]:
    """Settings and an n8n client for plain RQ workers (read once per process)."""
    settings = load_settings()
    return settings, Upstream(settings.n8n_url, settings.upstream_timeout_seconds, pool_size=4)


def run(payload: dict) -> dict:
    """RQ job function for typed jobs: deliver, then notify and enqueue what follows."""
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
            _follow(client, settings, upstream, failed, job_id)
            raise TypedJobFailed(outcome.error)
    done = follow_ups(operation, data, "done", result, job_id)
    _follow(client, settings, upstream, done, job_id)
    return {"n8nStatus": outcome.status if outcome else None, "result": result}


def _follow(
    client: redis.Redis | None,
    settings: Settings,
    upstream: Upstream,
    follows: list[FollowUp],
    parent_id: str,
) -> None:
    """`apply_follow_ups` for a plain RQ worker: the intake on the job's own connection."""
    if follows:
        apply_follow_ups(Intake(client, settings), upstream, follows, parent_id)
