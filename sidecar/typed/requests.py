"""The request a typed job makes: what each operation sends to n8n (`request_for`), how n8n's
answer is read (`parse_result`), what deduplicates a typed job (`typed_identity`). Pure: no
Redis, no HTTP. The worker delivers the request (sidecar/worker/typed_jobs.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sidecar.capture import CapturedRequest

# the RQ function every typed job hash names (stored data: the dotted name never changes)
RUN_FUNC = "sidecar.typed.processors.run"
NOTIFY = "notify"
OPERATION_HEADER = "X-Sidecar-Operation"
RESULT_BYTES = 64 * 1024
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


def is_typed(payload: dict) -> bool:
    """True for an (unsealed) typed job payload {"operation", "data"}, not a captured webhook."""
    return isinstance(payload.get("operation"), str) and isinstance(payload.get("data"), dict)


def typed_identity(operation: str, data: dict, key: str | None) -> str | None:
    """What deduplicates a typed job: the caller's Idempotency-Key, else a Telegram
    update_id, else nothing (every copy is a job)."""
    if key:
        return f"key:{key}"
    if operation == "telegram:command":
        return f"update:{data['update_id']}"
    return None


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


def parse_result(body: bytes) -> dict | None:
    """n8n's answer as a dict: a JSON object, the first object of a JSON array, else None."""
    try:
        value = json.loads(body[:RESULT_BYTES])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else None
