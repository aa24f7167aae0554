"""Management API, dead letters: list, show, replay one or many, delete.

`{id}` is a dead letter's own id or the original job's id (the one the sender got in its
202). A viewer sees a dead letter's captured request without its body and with sensitive
headers redacted (viewer_payload.py); operators and admins see all of it.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from sidecar.http.api_support import (
    MAX_PAGE,
    int_param,
    json_body,
    queue_param,
    redis_client,
    settings,
)
from sidecar.http.auth import require
from sidecar.http.state import current_state
from sidecar.http.viewer_payload import for_viewer
from sidecar.queues import deadletters

blueprint = Blueprint("dlq", __name__, url_prefix="/v1/dlq")


@blueprint.get("")
@require("viewer")
def list_dead_letters() -> Response:
    """A page of entries (?queue=&offset=&limit=), without their captured requests."""
    queue = queue_param(request.args.get("queue"))
    offset, limit = int_param("offset", 0), int_param("limit", 50, 1, MAX_PAGE)
    page, total = deadletters.list_entries(redis_client(), settings(), queue, offset, limit)
    return jsonify(total=total, offset=offset, limit=limit, items=[e.summary() for e in page])


@blueprint.get("/<entry_id>")
@require("viewer")
def show_dead_letter(entry_id: str) -> Response:
    """One entry with its captured request (redacted for viewers)."""
    entry = deadletters.get_entry(redis_client(), settings(), entry_id)
    data = deadletters.opened(settings(), entry)
    redacted = g.role == "viewer"
    if redacted:
        data = for_viewer(data, current_state().routes.signature_headers())
    return jsonify({**entry.summary(), "data": data, "redacted": redacted})


@blueprint.post("/<entry_id>/replay")
@require("operator")
def replay_dead_letter(entry_id: str) -> Response:
    """Put the job back on its queue with fresh attempts (409 if it is still pending)."""
    entry = deadletters.replay(redis_client(), settings(), entry_id)
    return jsonify(status="replayed", jobId=entry.jobId, queue=entry.queue)


@blueprint.post("/replay")
@require("operator")
def replay_dead_letters() -> Response:
    """Replay every entry, or those of {"queue": …}."""
    queue = queue_param(json_body().get("queue"))
    replayed, skipped = deadletters.replay_all(redis_client(), settings(), queue)
    return jsonify(replayed=replayed, skipped=skipped)


@blueprint.delete("/<entry_id>")
@require("admin")
def delete_dead_letter(entry_id: str) -> Response:
    """Delete one entry."""
    entry = deadletters.delete(redis_client(), settings(), entry_id)
    return jsonify(status="deleted", id=entry.id)
