"""GET /v1/mode (viewer) and PUT /v1/mode (admin): the shared mode, why, since, signals."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from sidecar.errors import BadRequest, Conflict
from sidecar.http.api_support import json_body
from sidecar.http.auth import require
from sidecar.http.state import current_state
from sidecar.mode.controller import Thresholds
from sidecar.mode.report import mode_report
from sidecar.mode.sources import signal_sources

blueprint = Blueprint("mode", __name__, url_prefix="/v1")
CHOICES = ("single", "queue", "auto")


def _report() -> Response:
    state = current_state()
    thresholds, sources = Thresholds.from_settings(state.settings), signal_sources(state.settings)
    return jsonify(mode_report(state.store, thresholds, sources=sources))


@blueprint.get("/mode")
@require("viewer")
def get_mode() -> Response:
    """Mode, pinned, reason, since, each signal against its threshold, recent switches."""
    return _report()


@blueprint.put("/mode")
@require("admin")
def put_mode() -> Response:
    """{"mode": "single"|"queue"} pins the mode for every gateway; "auto" unpins."""
    state = current_state()
    wanted = json_body(required=True).get("mode")
    if wanted not in CHOICES:
        raise BadRequest(f"'mode' must be one of {', '.join(CHOICES)}")
    if wanted == "queue" and state.intake is None:
        raise Conflict("queue mode needs Redis: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS")
    if wanted == "auto":
        state.store.unpin(by="api")
    else:
        state.store.pin(wanted, by="api")
    return _report()
