"""Webhook paths: the same prefixes and methods as n8n, served as a thin WSGI layer.

Webhooks are the hot path, so they skip Flask's routing and response objects: this handler
captures the request, asks Ingress, and streams the answer. Every other path (health,
metrics, the management API) goes on to the Flask app.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus

from sidecar.capture import capture
from sidecar.gateway_metrics import REQUESTS, path_class
from sidecar.http.errors import error_answer
from sidecar.http.state import SidecarState
from sidecar.paths import WEBHOOK_PREFIXES
from sidecar.queues.intake import Queued
from sidecar.upstream import UpstreamResponse

PATH_STARTS = tuple(f"/{prefix}/" for prefix in WEBHOOK_PREFIXES)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Answer = tuple[str, list[tuple[str, str]], Iterable[bytes]]


def status_line(code: int, reason: str | None = None) -> str:
    """'200 OK'-style status line; n8n's own reason phrase when it gave one."""
    if not reason:
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "Unknown"
    return f"{code} {reason}"


def json_answer(status: int, body: dict, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer as (status line, headers, body chunks)."""
    data = json.dumps(body).encode()
    pairs = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    return status_line(status), pairs + list((headers or {}).items()), [data]


def upstream_answer(answer: UpstreamResponse) -> Answer:
    """n8n's answer, streamed: its status, reason, headers and raw body."""
    return status_line(answer.status, answer.reason), list(answer.headers), answer.iter_body()


def queued_answer(queued: Queued) -> Answer:
    """202 {"status":"queued","jobId","queue"} with X-Sidecar-Job-Id."""
    return json_answer(202, queued.body(), {"X-Sidecar-Job-Id": queued.job_id})


class WebhookGateway:
    """WSGI app: webhook paths handled here, everything else passed to `fallback`.

    Parameters: `fallback` (the Flask WSGI app), `state` (the shared SidecarState).
    """

    def __init__(self, fallback: WSGIApp, state: SidecarState) -> None:
        self.fallback, self.state = fallback, state
        self.record_webhook = state.counters.record_webhook

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Serve one request."""
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PATH_STARTS):
            return self.fallback(environ, start_response)
        self.record_webhook()
        mode = self.state.current_mode()  # once: the mode that decides is the one reported
        status, headers, body = self._answer(environ, mode)
        headers.append(("X-Sidecar-Mode", mode))
        method = environ["REQUEST_METHOD"]
        REQUESTS.labels(path_class(path), method, mode, status[:3]).inc()
        start_response(status, headers)
        return body

    def _answer(self, environ: dict, mode: str) -> Answer:
        if environ["REQUEST_METHOD"] not in METHODS:
            allowed = {"Allow": ", ".join(sorted(METHODS))}
            return json_answer(405, _error("method_not_allowed", "method not allowed"), allowed)
        try:
            settings = self.state.settings
            captured = capture(environ, settings.max_body_bytes, settings.trusted_proxies)
            outcome = self.state.ingress.handle(captured, mode)
        except Exception as exc:  # every failure becomes SPEC §5 JSON
            return json_answer(*error_answer(exc))
        if isinstance(outcome, Queued):
            return queued_answer(outcome)
        return upstream_answer(outcome)


def _error(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}
