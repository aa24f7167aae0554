"""Health and metrics: /healthz (liveness), /readyz (readiness), /metrics (Prometheus)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from sidecar.backend.keys import keys_for
from sidecar.queues.gauges import render_queue_gauges
from sidecar.queues.names import all_queues
from sidecar.telemetry import render

blueprint = Blueprint("health", __name__)
log = logging.getLogger("sidecar.health")


@blueprint.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when the gateway can accept webhooks (n8n or Redis usable).

    Unauthenticated, so a failure is named by its kind only; the details (addresses,
    error texts) go to the log."""
    state = current_app.extensions["sidecar"]
    n8n_ok, n8n_detail = state.upstream.healthy()
    redis_ok, redis_detail = state.redis_health()
    ready = n8n_ok or redis_ok
    body = {
        "status": "ready" if ready else "unavailable",
        "n8n": "ok" if n8n_ok else n8n_detail,  # "HTTP 503" or the error's kind: no address
        "redis": "ok" if redis_ok else _unavailable("redis", redis_detail),
        "mode": state.current_mode(),
        "durability": _durability(state),
    }
    return jsonify(body), 200 if ready else 503


def _durability(state: object) -> dict | None:
    """What a 202 means on this Redis (cached reading; None without Redis or unreadable)."""
    probe = getattr(state, "durability", None)
    reading = probe.current() if probe is not None else None
    if reading is None:
        return None
    return {k: v for k, v in reading.to_json().items() if k != "redisVersion"}


def _unavailable(backend: str, detail: str) -> str:
    """Log `detail` of a failed readiness check; the answer says only "unavailable"."""
    log.warning("readiness: %s unavailable: %s", backend, detail)
    return "unavailable"


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition (unauthenticated, as SPEC §5 says), with queue gauges
    read from Redis when it is configured."""
    state = current_app.extensions["sidecar"]
    payload, content_type = render()
    if state.intake is not None:
        queues = all_queues(state.settings.queue_prefix)
        payload += render_queue_gauges(state.intake.client, keys_for(state.settings), queues)
    return Response(payload, content_type=content_type)
