"""Typed jobs (POST /v1/jobs/{queue}) become RQ jobs calling sidecar.typed.processors.run.

Claim and store are the same single atomic script as for webhooks (sidecar/backend/lua/ingest.lua):
either the job is stored and its identity claimed, or neither happens. A failure at any point
(Redis gone mid-request) leaves no claim behind, so the caller's retry is not a duplicate.
Every accepted job has a fresh id, also when its Idempotency-Key was seen before the window.
"""

from __future__ import annotations

from sidecar.crypto import PayloadCipher
from sidecar.guards.dedup import claim_key, claim_seconds
from sidecar.queues.ingest import Admission
from sidecar.queues.intake import Intake
from sidecar.queues.jobhash import JobHash
from sidecar.queues.jobs import new_job_id
from sidecar.typed.processors import RUN_FUNC


def typed_identity(operation: str, data: dict, key: str | None) -> str | None:
    """What deduplicates a typed job: the caller's Idempotency-Key, else a Telegram
    update_id, else nothing (every copy is a job)."""
    if key:
        return f"key:{key}"
    if operation == "telegram:command":
        return f"update:{data['update_id']}"
    return None


def enqueue_typed(
    intake: Intake, queue: str, operation: str, data: dict, identity: str | None
) -> str:
    """Store a validated typed job on `queue` through the intake's one storing path (durable
    ack and queue room as for webhooks); its new job id. Duplicate (with the first job's id)
    within the dedup window; BacklogFull; BackendUnavailable."""
    settings = intake.settings
    payload = PayloadCipher(settings.encryption_keys).seal({"operation": operation, "data": data})
    admission = Admission(
        queue=queue,
        job_id=new_job_id(),
        claim=claim_key(queue, identity) if identity else None,
        claim_seconds=claim_seconds(settings.dedup_ttl_seconds),
        window=None,
        fields=JobHash(settings, RUN_FUNC).fields(queue, payload, operation),
        **intake.room(),
    )
    intake.store(admission)
    return admission.job_id
