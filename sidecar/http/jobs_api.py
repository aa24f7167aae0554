"""Management API, typed jobs: POST /v1/jobs/{queue} for n8n HTTP Request nodes.

The body is validated by the queue's model (422 lists every field error) and stored as an
RQ job calling `sidecar.typed.processors.run({"operation", "data"})` — encrypted at rest
when SIDECAR_ENCRYPTION_KEY is set. `Idempotency-Key` (or `X-Idempotency-Key`) makes a
repeat within SIDECAR_DEDUP_TTL_SECONDS answer `200 duplicate` with the first job's id;
telegram:command without a key is deduplicated on the update's `update_id`. The intake
claims, seals and stores (sidecar/queues/intake.py, `enqueue_typed`); this blueprint only
parses the request, calls it and answers.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request

from sidecar.errors import (
    BackendUnavailable,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Rejected,
    ServiceUnavailable,
)
from sidecar.http.api_support import intake, settings
from sidecar.http.auth import require
from sidecar.typed.models import MODELS, InvalidJobData, validate
from sidecar.typed.text import CONTROL

blueprint = Blueprint("jobs_api", __name__, url_prefix="/v1")
MAX_JOB_BYTES = 1024 * 1024
MAX_KEY_CHARS = 255
KEY_HEADERS = ("Idempotency-Key", "X-Idempotency-Key")
RETRY_AFTER = {"Retry-After": "5"}


class ValidationFailed(Rejected):
    """The body does not fit the queue's model: 422 with every field error."""

    status = 422
    code = "validation_failed"

    def __init__(self, operation: str, fields: list[dict[str, str]]) -> None:
        super().__init__(f"the {operation} job is invalid: {len(fields)} field error(s)")
        self.fields = fields

    def body(self) -> dict[str, object]:
        """{"error", "message", "fields": [{"field", "message", "type"}, …]}."""
        return {**super().body(), "fields": self.fields}


@blueprint.post("/jobs/<queue>")
@require("operator")
def create_job(queue: str) -> tuple[Response, int, dict[str, str]]:
    """Validate the body against the queue's model and enqueue it as a typed job."""
    operation = typed_operation(queue)
    try:
        data = validate(operation, read_json())
    except InvalidJobData as exc:
        raise ValidationFailed(operation, exc.fields) from None
    key = idempotency_key()
    try:
        queued = intake().enqueue_typed(operation, data, key)
    except BackendUnavailable as exc:
        raise ServiceUnavailable(f"the job could not be stored: {exc}", RETRY_AFTER) from None
    return jsonify(queued.body()), 202, {"X-Sidecar-Job-Id": queued.job_id}


def typed_operation(given: str) -> str:
    """'tasks:create' from 'tasks:create' or 'flrts:tasks:create'; 404 if not a typed queue."""
    prefix = f"{settings().queue_prefix}:"
    operation = given.removeprefix(prefix)
    if operation in MODELS:
        return operation
    if operation == "webhooks:inbound":
        raise NotFound("webhooks:inbound takes captured webhooks only, not typed jobs")
    raise NotFound(f"unknown typed queue {given!r}; typed queues: {', '.join(MODELS)}")


def read_json() -> object:
    """The parsed JSON body (at most MAX_JOB_BYTES); 400 when it is not JSON, 413 too big."""
    limit = min(MAX_JOB_BYTES, settings().max_body_bytes)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a typed job body is at most {limit} bytes")
    raw = _read_at_most(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"a typed job body is at most {limit} bytes")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body must be a JSON object (malformed JSON)") from None


def _read_at_most(size: int) -> bytes:
    """Up to `size` bytes of the body (a stream read may return less than asked)."""
    chunks: list[bytes] = []
    while size > 0 and (chunk := request.stream.read(min(size, 65536))):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> object:
    """Refuse NaN and Infinity, which JSON does not have."""
    raise ValueError(f"{name} is not JSON")


def idempotency_key() -> str | None:
    """The caller's Idempotency-Key, if any; 400 when it is too long or has control chars."""
    key = next((request.headers[h].strip() for h in KEY_HEADERS if request.headers.get(h)), "")
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS or CONTROL.search(key):
        raise BadRequest(f"Idempotency-Key must be 1..{MAX_KEY_CHARS} printable characters")
    return key
