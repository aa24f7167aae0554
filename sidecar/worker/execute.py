"""Running one taken job: open its payload, then deliver a captured webhook, or run a typed
job through its processor (n8n call, then notifications and follow-up jobs on its final
outcome). Used by the worker's delivery threads."""

from __future__ import annotations

import logging

import redis

from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import TakenJob
from sidecar.settings import Settings
from sidecar.typed.follow_ups import follow_ups
from sidecar.typed.requests import is_typed, request_for
from sidecar.upstream import Upstream
from sidecar.worker.delivery import attempt_delivery
from sidecar.worker.policy import Outcome
from sidecar.worker.typed_jobs import apply_follow_ups, deliver

log = logging.getLogger("sidecar.worker")


class JobExecutor:
    """Runs taken jobs. Parameters: `settings`, `client` (for follow-ups, stored through the
    intake), `upstream`."""

    def __init__(self, settings: Settings, client: redis.Redis, upstream: Upstream) -> None:
        self.settings, self.client, self.upstream = settings, client, upstream
        self.cipher = PayloadCipher(settings.encryption_keys)
        self.intake = Intake(client, settings)

    def run(self, job: TakenJob) -> Outcome:
        """One attempt at `job`; what came of it."""
        try:
            payload = self.cipher.unseal(job.payload)
        except UnreadablePayload as exc:
            return Outcome("dead", error=str(exc))
        if is_typed(payload):
            return self._typed(job, payload["operation"], payload["data"])
        return attempt_delivery(self.upstream, job.id, payload, job.attempt)

    def _typed(self, job: TakenJob, operation: str, data: dict) -> Outcome:
        request = request_for(operation, data, self.settings.typed_paths)
        if request is None:  # e.g. reminders:schedule: only follow-ups
            outcome, result = Outcome("done"), None
        else:
            outcome, result = deliver(self.upstream, job.id, request, job.attempt)
        spent = outcome.kind == "retry" and job.attempt >= self.settings.job_attempts
        final = outcome.kind in ("done", "dead") or spent
        if final:
            self._follow_up(job, operation, data, outcome, result)
        return outcome

    def _follow_up(
        self, job: TakenJob, operation: str, data: dict, outcome: Outcome, result: dict | None
    ) -> None:
        kind = "done" if outcome.kind == "done" else "dead"
        detail = result if kind == "done" else {"error": outcome.error}
        follows = follow_ups(operation, data, kind, detail, job.id)
        try:
            apply_follow_ups(self.intake, self.upstream, follows, job.id)
        except Exception:  # a follow-up must never turn a delivered job into a failed one
            log.exception("follow-ups of job %s failed", job.id)
