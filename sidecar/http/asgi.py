"""The gateway as an ASGI app (ADR-007): webhooks on the event loop, everything else in Flask.

Webhook paths (the same prefixes and methods as sidecar/http/webhooks.py, the WSGI twin that
Flask's test client and sidecar/wsgi.py use) are captured from the ASGI scope with
capture.py's logic, their body read under the size limit and SIDECAR_BODY_TIMEOUT_SECONDS,
and handed to the AsyncIngress; n8n's answer is streamed back chunk by chunk. Health,
/metrics, /v1, /status and /openapi.json go to the Flask app through a2wsgi (a small thread
pool, SIDECAR_GATEWAY_THREADS). The lifespan starts the mode view and closes the loop's n8n and
Redis connections at shutdown.
"""

from __future__ import annotations

import logging

from a2wsgi import WSGIMiddleware
from flask import Flask

from sidecar.backend.async_connection import async_twin
from sidecar.capture import capture_parts, declared_length
from sidecar.gateway_metrics import answered, path_class
from sidecar.http.asgi_io import (
    CLOSE,
    Receive,
    Send,
    SenderGone,
    lower_headers,
    pass_answer,
    read_body,
    send_json,
)
from sidecar.http.asgi_mode import LoopModeView
from sidecar.http.errors import error_answer
from sidecar.http.state import SidecarState
from sidecar.http.webhooks import METHODS, PATH_STARTS
from sidecar.ingress_async import AsyncIngress
from sidecar.queues.intake import Queued
from sidecar.queues.intake_async import AsyncIntake
from sidecar.request_head import head_from_scope
from sidecar.route_path import canonical_path
from sidecar.upstream_async import AsyncUpstream

log = logging.getLogger("sidecar.http")
CLOSING_STATUSES = frozenset({408, 413})  # the rest of the body is not read: close


class GatewayASGI:
    """ASGI app. Parameters: `flask_app` (the management API, create_app's), `state`."""

    def __init__(self, flask_app: Flask, state: SidecarState) -> None:
        self.state, self.settings = state, state.settings
        self.management = WSGIMiddleware(flask_app, workers=state.settings.gateway_threads)
        self.upstream = AsyncUpstream(
            state.settings.n8n_url, state.settings.upstream_timeout_seconds
        )
        intake = state.intake
        self.intake = AsyncIntake(intake, async_twin(intake.client)) if intake else None
        self.ingress = AsyncIngress(state.ingress, self.upstream, self.intake)
        self.mode = LoopModeView(state.store, state.ingress.circuit_open)
        self.record_webhook = state.counters.record_webhook

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        if scope["type"] != "http" or not scope["path"].startswith(PATH_STARTS):
            return await self.management(scope, receive, send)
        await self.webhook(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Start the mode view; at shutdown stop it and close the n8n and Redis connections."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.mode.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.mode.stop()
                await self.upstream.close()
                if self.intake is not None:
                    await self.intake.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def webhook(self, scope: dict, receive: Receive, send: Send) -> None:
        """Capture, decide, answer (SPEC §5 JSON for every failure), count."""
        self.record_webhook()
        mode = await self.mode.mode()  # once: the mode that decides is the one reported
        stamp = [(b"x-sidecar-mode", mode.encode())]
        method = scope["method"]
        status = 500
        try:
            if method not in METHODS:
                allow = ", ".join(sorted(METHODS)).encode()
                status = 405
                body = {"error": "method_not_allowed", "message": "method not allowed"}
                return await send_json(send, 405, body, [(b"allow", allow), *stamp])
            try:
                outcome = await self._outcome(scope, receive, mode)
            except SenderGone:
                status = 499
                return
            except Exception as exc:  # every failure becomes SPEC §5 JSON
                status, body, headers = error_answer(exc)
                extra = lower_headers(headers)
                if status in CLOSING_STATUSES:
                    extra.append(CLOSE)
                return await send_json(send, status, body, [*extra, *stamp])
            if isinstance(outcome, Queued):
                status = 202
                job = [(b"x-sidecar-job-id", outcome.job_id.encode())]
                return await send_json(send, 202, outcome.body(), [*job, *stamp])
            status = await pass_answer(send, receive, outcome, stamp)
        finally:
            answered(path_class(scope["path"]), method, mode, status).inc()

    async def _outcome(self, scope: dict, receive: Receive, mode: str) -> object:
        settings = self.settings
        head = head_from_scope(scope)
        canonical_path(head.path)  # BadPath before the body is read
        limit = settings.max_body_bytes
        declared = declared_length(head, limit)
        body = await read_body(receive, declared, limit, settings.body_timeout_seconds)
        captured = capture_parts(head, body, settings.trusted_proxies)
        return await self.ingress.handle(captured, mode, self.mode.circuit_open)
