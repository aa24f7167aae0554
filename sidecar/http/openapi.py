"""GET /openapi.json: the HTTP API described (OpenAPI 3.1), built from small schema pieces."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from sidecar import __version__
from sidecar.paths import WEBHOOK_PREFIXES
from sidecar.typed.models import MODELS

blueprint = Blueprint("openapi", __name__)
JSON = "application/json"


def obj(required: list[str], **props: dict) -> dict:
    """An object schema."""
    return {"type": "object", "required": required, "properties": props}


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
NULLABLE_STR = {"type": ["string", "null"]}
SCHEMAS: dict[str, dict] = {
    "Error": obj(["error", "message"], error=STR, message=STR),
    "Queued": obj(["status", "jobId", "queue"], status={"const": "queued"}, jobId=STR, queue=STR),
    "Duplicate": obj(["status", "jobId"], status={"const": "duplicate"}, jobId=STR),
    "RateLimited": obj(["error", "retryAfter"], error={"const": "rate_limited"}, retryAfter=INT),
    "Health": obj(["status"], status=STR),
    "Ready": obj(
        ["status", "n8n", "redis", "mode"],
        status=STR,
        n8n=STR,
        redis=STR,
        mode=STR,
        durability={
            "type": ["object", "null"],
            "description": "Redis' durability settings and what a 202 survives "
            "(docs/reliability.md); null without Redis or when unreadable",
        },
    ),
    "QueueCounts": obj(
        ["name", "waiting", "active", "completed", "failed", "delayed", "paused"],
        name=STR,
        waiting=INT,
        active=INT,
        completed=INT,
        failed=INT,
        delayed=INT,
        paused=BOOL,
    ),
    "Queues": obj(
        ["queues"], queues={"type": "array", "items": {"$ref": "#/components/schemas/QueueCounts"}}
    ),
    "Paused": obj(["queue", "paused"], queue=STR, paused=BOOL),
    "Job": obj(
        ["id", "queue", "status", "attempts"],
        id=STR,
        queue=STR,
        status=STR,
        attempts=INT,
        error=NULLABLE_STR,
        result={"type": ["object", "null"]},
        enqueuedAt=NULLABLE_STR,
        startedAt=NULLABLE_STR,
        endedAt=NULLABLE_STR,
        replayedFrom=NULLABLE_STR,
    ),
    "DeadLetter": obj(
        ["id", "queue", "jobId", "error", "attempts", "failedAt"],
        id=STR,
        queue=STR,
        jobId=STR,
        error=STR,
        attempts=INT,
        failedAt=STR,
        data={
            "type": "object",
            "description": "the captured request; for viewers without its body, with "
            "sensitive headers and query parameters '[redacted]' (not in listings)",
        },
        redacted={"type": "boolean", "description": "true when `data` is the viewer's view"},
    ),
    "DeadLetters": obj(
        ["total", "offset", "limit", "items"],
        total=INT,
        offset=INT,
        limit=INT,
        items={"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}},
    ),
    "Replayed": obj(
        ["status", "jobId", "queue"], status={"const": "replayed"}, jobId=STR, queue=STR
    ),
    "BulkReplayed": obj(["replayed", "skipped"], replayed=INT, skipped=INT),
    "Deleted": obj(["status", "id"], status={"const": "deleted"}, id=STR),
    "Mode": obj(
        ["mode", "pinned", "reason", "since", "signals", "history"],
        mode={"enum": ["single", "queue"]},
        pinned=BOOL,
        pinnedBy=NULLABLE_STR,
        reason=STR,
        since=NULLABLE_STR,
        source=STR,
        signals={"type": "object"},
        sampledAt=NULLABLE_STR,
        history={"type": "array", "items": {"type": "object"}},
    ),
    "QueueMetrics": obj(
        ["windowMinutes", "queues"],
        windowMinutes=INT,
        queues={
            "type": "array",
            "items": obj(
                ["name", "processed", "failed", "avgProcessingTime", "p95ProcessingTime"],
                name=STR,
                processed=INT,
                failed=INT,
                avgProcessingTime={"type": "number"},
                p95ProcessingTime={"type": "number"},
            ),
        },
    ),
    "Event": obj(["id", "type", "data"], id=STR, type=STR, data={"type": "object"}),
    "Events": obj(
        ["events", "last"],
        events={"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        last=STR,
    ),
}


def ref(name: str) -> dict:
    """A JSON response with schema `name`."""
    return {"content": {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def answer(status: int, name: str, text: str) -> dict[str, dict]:
    """One documented response."""
    return {str(status): {"description": text, **ref(name)}}


def errors(*statuses: int) -> dict[str, dict]:
    """The error responses an operation may give."""
    texts = {
        400: "bad input",
        401: "no or unknown token",
        403: "role too weak",
        404: "unknown id or queue",
        409: "conflict",
        413: "body too large",
        422: "invalid job data",
        502: "n8n unreachable",
        503: "unavailable",
        504: "n8n timed out",
    }
    return {k: v for s in statuses for k, v in answer(s, "Error", texts[s]).items()}


def op(summary: str, role: str | None, ok: dict, *error_codes: int, **extra: Any) -> dict:
    """One operation; `role` adds bearer security and 401/403."""
    auth_errors = (401, 403) if role else ()
    body = {
        "summary": summary + (f" (role: {role})" if role else ""),
        "responses": {**ok, **errors(*auth_errors, *error_codes)},
        **extra,
    }
    if role:
        body["security"] = [{"bearer": []}]
        body["x-sidecar-role"] = role
    return body


def param(name: str, where: str = "path", schema: dict = STR, required: bool = True) -> dict:
    """A parameter."""
    return {"name": name, "in": where, "required": required, "schema": schema}


QUEUE, ID = [param("queue")], [param("id")]
DLQ_ID = [
    {
        **param("id"),
        "description": "the dead letter's id, or the original job's id (the one its 202 gave)",
    }
]
PAGING = [
    param("queue", "query", required=False),
    param("offset", "query", INT, False),
    param("limit", "query", INT, False),
]


def api_paths() -> dict[str, dict]:
    """The management and health endpoints."""
    return {
        "/healthz": {"get": op("liveness", None, answer(200, "Health", "alive"))},
        "/readyz": {
            "get": op(
                "readiness",
                None,
                {**answer(200, "Ready", "ready"), **answer(503, "Ready", "not ready")},
            )
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text exposition",
                        "content": {"text/plain": {"schema": STR}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/v1/queues": {
            "get": op("counts per queue", "viewer", answer(200, "Queues", "counts"), 503)
        },
        "/v1/queues/{queue}/pause": {
            "post": op(
                "pause a queue",
                "operator",
                answer(200, "Paused", "paused"),
                404,
                503,
                parameters=QUEUE,
            )
        },
        "/v1/queues/{queue}/resume": {
            "post": op(
                "resume a queue",
                "operator",
                answer(200, "Paused", "resumed"),
                404,
                503,
                parameters=QUEUE,
            )
        },
        "/v1/jobs/{id}": {
            "get": op(
                "one job (id: a job id)",
                "viewer",
                answer(200, "Job", "the job"),
                404,
                503,
                parameters=ID,
            ),
            "post": typed_job_operation(
                "enqueue a typed job (id: a typed queue, e.g. tasks:create; body: its model)",
                {
                    "oneOf": [
                        {"$ref": f"#/components/schemas/{name}"} for name in typed_schemas()[0]
                    ]
                },
                parameters=ID,
            ),
        },
        **typed_job_paths(),
        "/v1/dlq": {
            "get": op(
                "dead letters",
                "viewer",
                answer(200, "DeadLetters", "a page"),
                400,
                404,
                503,
                parameters=PAGING,
            )
        },
        "/v1/dlq/replay": {
            "post": op(
                "replay all dead letters (of a queue)",
                "operator",
                answer(200, "BulkReplayed", "done"),
                400,
                404,
                503,
            )
        },
        "/v1/dlq/{id}": {
            "get": op(
                "one dead letter (viewers: no body, secrets redacted)",
                "viewer",
                answer(200, "DeadLetter", "the entry"),
                404,
                503,
                parameters=DLQ_ID,
            ),
            "delete": op(
                "delete a dead letter",
                "admin",
                answer(200, "Deleted", "deleted"),
                404,
                503,
                parameters=DLQ_ID,
            ),
        },
        "/v1/dlq/{id}/replay": {
            "post": op(
                "replay a dead letter",
                "operator",
                answer(200, "Replayed", "back on its queue"),
                404,
                409,
                503,
                parameters=DLQ_ID,
            )
        },
        "/v1/mode": {
            "get": op(
                "mode, why, since, signals vs thresholds", "viewer", answer(200, "Mode", "the mode")
            ),
            "put": op(
                "pin single/queue, or auto to unpin",
                "admin",
                answer(200, "Mode", "the mode"),
                400,
                409,
                503,
                requestBody={
                    "required": True,
                    "content": {
                        JSON: {"schema": obj(["mode"], mode={"enum": ["single", "queue", "auto"]})}
                    },
                },
            ),
        },
        "/v1/metrics/queues": {
            "get": op(
                "delivery statistics per queue",
                "viewer",
                answer(200, "QueueMetrics", "statistics"),
                400,
                503,
                parameters=[param("minutes", "query", INT, False)],
            )
        },
        "/v1/events": {
            "get": op(
                "events after an id",
                "viewer",
                answer(200, "Events", "events"),
                400,
                503,
                parameters=[
                    param("after", "query", required=False),
                    param("limit", "query", INT, False),
                ],
            )
        },
    }


IDEMPOTENCY = [
    param("Idempotency-Key", "header", required=False),
    param("X-Idempotency-Key", "header", required=False),
]


def typed_job_operation(summary: str, body: dict, parameters: list | None = None) -> dict:
    """POST of a typed job: 202 stored, 200 duplicate, 422 invalid for its model."""
    return op(
        summary,
        "operator",
        {**answer(202, "Queued", "stored"), **answer(200, "Duplicate", "same Idempotency-Key")},
        400,
        404,
        413,
        422,
        503,
        parameters=(parameters or []) + IDEMPOTENCY,
        requestBody={"required": True, "content": {JSON: {"schema": body}}},
    )


def typed_job_paths() -> dict[str, dict]:
    """One POST /v1/jobs/{queue} per typed queue, with that queue's model as its body."""
    return {
        f"/v1/jobs/{operation}": {
            "post": typed_job_operation(
                f"enqueue a {operation} job",
                {"$ref": f"#/components/schemas/{name}"},
            )
        }
        for operation, name in zip(MODELS, typed_schemas()[0], strict=True)
    }


def webhook_paths() -> dict[str, dict]:
    """n8n's webhook prefixes: passthrough or queued."""
    outcomes = {
        "default": {"description": "n8n's own answer (passthrough), any status, unchanged"},
        **answer(202, "Queued", "stored as a job (queue mode, /webhook/ only)"),
        **answer(200, "Duplicate", "seen within the dedup window; nothing stored"),
        **answer(400, "Error", "bad_path: a path n8n could resolve ambiguously"),
        **errors(401, 413, 502, 503, 504),
        **answer(429, "RateLimited", "over the per-user limit"),
    }
    operation = {"summary": "an n8n webhook", "parameters": [param("path")], "responses": outcomes}
    methods = ("get", "head", "post", "put", "patch", "delete", "options")
    return {f"/{prefix}/{{path}}": dict.fromkeys(methods, operation) for prefix in WEBHOOK_PREFIXES}


def status_paths() -> dict[str, dict]:
    """The /status page and its form posts (HTML, session cookie; see docs/operations.md)."""
    html = {"content": {"text/html": {"schema": STR}}}
    page = {
        "200": {"description": "the page, or the sign-in form when signed out", **html},
        **errors(400),
    }
    back = {"303": {"description": "done: back to /status"}, **errors(400, 403, 404, 409)}
    form = {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}

    def post(summary: str, **extra: Any) -> dict:
        return {"post": {"summary": summary, "requestBody": form, "responses": back, **extra}}

    sign_in = post("sign in: form token, csrf")
    sign_in["post"]["responses"] = {
        **back,
        "401": {"description": "unknown token: the form again", **html},
    }
    return {
        "/status": {"get": {"summary": "status page (?range=1h|6h|24h|7d)", "responses": page}},
        "/status/sign-in": sign_in,
        "/status/sign-out": post("sign out: form csrf"),
        "/status/queues/{queue}/{action}": post(
            "pause or resume a queue (role: operator): form csrf",
            parameters=[param("queue"), param("action", schema={"enum": ["pause", "resume"]})],
        ),
        "/status/dlq/replay": post("replay one dead letter (form entry) or all (role: operator)"),
        "/status/mode": post("pin single or queue, or unpin with auto (role: admin): form mode"),
    }


def typed_schemas() -> tuple[list[str], dict[str, dict]]:
    """The typed-job models as components: (the nine top-level names, every schema)."""
    top, schemas = [], {}
    for operation, model in MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        name = "Job_" + operation.replace(":", "_")
        schemas[name] = {**schema, "description": f"body of POST /v1/jobs/{operation}"}
        top.append(name)
    return top, schemas


def document(
    extra_paths: dict[str, dict] | None = None, extra_schemas: dict[str, dict] | None = None
) -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "n8n-sidecar", "version": __version__},
        "paths": {**api_paths(), **webhook_paths(), **status_paths(), **(extra_paths or {})},
        "components": {
            "schemas": {**SCHEMAS, **typed_schemas()[1], **(extra_schemas or {})},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@blueprint.get("/openapi.json")
def openapi() -> Response:
    """The API described."""
    return jsonify(document())
