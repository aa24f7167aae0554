"""Management API: queues (counts, pause/resume), jobs, and the event stream."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from sidecar.backend.keys import keys_for
from sidecar.backend.queue_names import all_queues
from sidecar.errors import BadRequest
from sidecar.events import read_events, valid_stream_id
from sidecar.http.api_support import int_param, queue_param, redis_client, settings
from sidecar.http.auth import require
from sidecar.queues.inspect import job_view
from sidecar.queues.overview import queue_counts, set_paused
from sidecar.queues.stats import queue_metrics

blueprint = Blueprint("api", __name__, url_prefix="/v1")


@blueprint.get("/queues")
@require("viewer")
def list_queues() -> Response:
    """Per queue: waiting, active, completed, failed, delayed, paused."""
    counts = queue_counts(redis_client(), all_queues(settings().queue_prefix))
    return jsonify(queues=[{"name": name, **row} for name, row in counts.items()])


@blueprint.post("/queues/<path:queue>/pause")
@require("operator")
def pause_queue(queue: str) -> Response:
    """Workers stop taking jobs from the queue; it keeps accepting webhooks."""
    return _set_paused(queue, True)


@blueprint.post("/queues/<path:queue>/resume")
@require("operator")
def resume_queue(queue: str) -> Response:
    """Workers take jobs from the queue again."""
    return _set_paused(queue, False)


def _set_paused(queue: str, paused: bool) -> Response:
    name = queue_param(queue)
    assert name is not None
    set_paused(redis_client(), name, paused)
    return jsonify(queue=name, paused=paused)


@blueprint.get("/jobs/<job_id>")
@require("viewer")
def get_job(job_id: str) -> Response:
    """Status, attempts, result or error of one job."""
    return jsonify(job_view(redis_client(), job_id))


@blueprint.get("/events")
@require("viewer")
def list_events() -> Response:
    """Events after ?after=ID (default: from the start), oldest first, at most ?limit."""
    after = request.args.get("after", "0") or "0"
    if not valid_stream_id(after):
        raise BadRequest(f"'after' must be an event id like 1700000000000-0, got {after!r}")
    limit = int_param("limit", 100, 1, 1000)
    events = read_events(redis_client(), keys_for(settings()), after, limit)
    return jsonify(events=events, last=events[-1]["id"] if events else after)


@blueprint.get("/metrics/queues")
@require("viewer")
def queue_delivery_metrics() -> Response:
    """Per queue over the last ?minutes (default 15): processed, failed, avg and p95 time (ms)."""
    minutes = int_param("minutes", 15, 1, 60)
    rows = queue_metrics(redis_client(), all_queues(settings().queue_prefix), minutes)
    return jsonify(windowMinutes=minutes, queues=[{"name": n, **row} for n, row in rows.items()])
