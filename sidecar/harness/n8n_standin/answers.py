"""How n8n answers a request no test scripted: its webhook routes and response modes,
its 404 for an unregistered webhook, and a few test routes (echo, status/N, slow, stream)."""

from __future__ import annotations

import base64
import gzip
import random
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from sidecar.harness.n8n_standin.messages import (
    JSON_TYPE,
    Received,
    Reply,
    json_bytes,
    json_reply,
)
from sidecar.harness.n8n_standin.wire import phrase

# n8n's webhook path prefixes, in the order of its docs (tests parametrize over them).
N8N_PREFIXES = (
    "webhook",
    "webhook-test",
    "webhook-waiting",
    "form",
    "form-test",
    "form-waiting",
    "mcp",
    "mcp-test",
)
PREFIXES = frozenset(N8N_PREFIXES)
TEST_PREFIXES = frozenset({"webhook-test", "form-test", "mcp-test"})
WEBHOOK_METHODS = frozenset({"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"})

# Texts of n8n's WebhookNotFoundError
# (packages/cli/src/errors/response-errors/webhook-not-found.error.ts).
HINT_TEST = (
    "Click the 'Execute workflow' button on the canvas, then try again. "
    "(In test mode, the webhook only works for one call after you click this button)"
)
HINT_PRODUCTION = (
    "The workflow must be active for a production URL to run successfully. "
    "You can activate the workflow using the toggle in the top-right of the editor. "
    "Note that unlike test URL calls, production URL calls aren't shown on the canvas "
    "(only in the executions list)"
)

BINARY_BODY = b"\xff\xfe\x00\x80" + random.Random(5678).randbytes(256 * 1024 - 4)
GZIP_DOCUMENT = {"compressed": True, "items": [{"n": n} for n in range(50)]}


def stream_chunks(chunks: int, chunk_bytes: int) -> list[bytes]:
    """Chunks of /webhook/stream: chunk i is `chunk_bytes` copies of letter a+i%26."""
    return [bytes([97 + index % 26]) * chunk_bytes for index in range(chunks)]


def _first(params: dict[str, list[str]], name: str, default: str) -> str:
    """Return the first value of query parameter `name`."""
    return params.get(name, [default])[0]


def _split_prefix(path: str) -> tuple[str | None, str]:
    """Split '/webhook/rest' into ('webhook', 'rest'); other paths give (None, path)."""
    parts = path.split("/", 2)
    if len(parts) == 3 and parts[0] == "" and parts[1] in PREFIXES:
        return parts[1], parts[2]
    return None, path.lstrip("/")


def not_found_body(method: str, path: str) -> dict[str, Any]:
    """Return n8n's JSON body for a request to an unregistered webhook at raw `path`."""
    prefix, rest = _split_prefix(path)
    webhook_path = unquote(rest).rstrip("/")
    if prefix in TEST_PREFIXES:
        message = f'The requested webhook "{webhook_path}" is not registered.'
        return {"code": 404, "message": message, "hint": HINT_TEST}
    message = f'The requested webhook "{method} {webhook_path}" is not registered.'
    return {"code": 404, "message": message, "hint": HINT_PRODUCTION}


def _echo(rec: Received, _params: dict[str, list[str]]) -> Reply:
    """Describe exactly what was received."""
    body_b64 = base64.b64encode(rec.body).decode()
    headers = [[key, value] for key, value in rec.headers]
    described = {"method": rec.method, "path": rec.path, "query": rec.query}
    return json_reply({**described, "headers": headers, "body_b64": body_b64})


def _respond_immediately(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """n8n 'Immediately' response mode."""
    return json_reply({"message": "Workflow was started"})


def _last_node(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """n8n 'When last node finishes' response mode, after a short compute."""
    time.sleep(0.005)
    return json_reply([{"ok": True, "items": 1}])


def _respond_to_webhook(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """'Respond to Webhook' node: status, headers and body from the query string."""
    headers = [tuple(h.split(":", 1)) for h in params.get("header", []) if ":" in h]
    pairs = [(name.strip(), value.strip()) for name, value in headers]
    status = int(_first(params, "status", "200"))
    if "body" not in params:
        return json_reply({"responded": True}, status, pairs)
    return Reply(status=status, headers=pairs, body=params["body"][0])


def _binary(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """A fixed binary file download."""
    headers = [("Content-Type", "application/octet-stream")]
    headers.append(("Content-Disposition", 'attachment; filename="report.bin"'))
    return Reply(headers=headers, body=BINARY_BODY)


def _stream(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """A chunked answer: `chunks` chunks of `chunk_bytes`, `delay` seconds apart."""
    count, size = int(_first(params, "chunks", "5")), int(_first(params, "chunk_bytes", "1024"))
    chunks = stream_chunks(count, size)
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    return Reply(headers=headers, chunks=chunks, chunk_delay=float(_first(params, "delay", "0")))


def _gzip(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """A gzip-compressed JSON answer."""
    headers = [("Content-Type", JSON_TYPE), ("Content-Encoding", "gzip")]
    return Reply(headers=headers, body=gzip.compress(json_bytes(GZIP_DOCUMENT), mtime=0))


def _slow(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """Sleep `seconds`, then answer."""
    seconds = float(_first(params, "seconds", "1"))
    time.sleep(seconds)
    return json_reply({"slept": seconds})


def _status(code: int, params: dict[str, list[str]]) -> Reply:
    """Answer status `code`, with Retry-After when `retry_after` is given."""
    headers = [("Retry-After", params["retry_after"][0])] if "retry_after" in params else []
    return json_reply({"code": code, "message": phrase(code)}, code, headers)


ROUTES = {
    "respond-immediately": _respond_immediately,
    "last-node": _last_node,
    "respond-to-webhook": _respond_to_webhook,
    "binary": _binary,
    "stream": _stream,
    "gzip": _gzip,
    "slow": _slow,
}


HEALTH_PATHS = ("/healthz", "/healthz/readiness")


def is_health_probe(path: str) -> bool:
    """Whether `path` is n8n's health or readiness check (under any N8N_URL prefix)."""
    return path.endswith(HEALTH_PATHS)


def answer(rec: Received) -> Reply:
    """Answer a request that no script claimed, like n8n would."""
    params = parse_qs(rec.query, keep_blank_values=True)
    if rec.path in HEALTH_PATHS:
        return json_reply({"status": "ok"})
    prefix, rest = _split_prefix(rec.path)
    if prefix is not None and (rest == "echo" or rest.startswith("echo/")):
        return _echo(rec, params)
    name = rest.rstrip("/")
    if prefix is not None and name in ROUTES:
        return ROUTES[name](rec, params)
    if prefix is not None and name.startswith("status/") and name[7:].isdigit():
        return _status(int(name[7:]), params)
    return _unregistered(rec)


def _unregistered(rec: Received) -> Reply:
    """n8n's answer for an unknown webhook (or an unsupported method)."""
    if rec.method == "OPTIONS":
        return Reply(status=204)
    if rec.method not in WEBHOOK_METHODS:
        message = f"The method {rec.method} is not supported."
        return json_reply({"code": 0, "message": message}, 500)
    return json_reply(not_found_body(rec.method, rec.path), 404)
