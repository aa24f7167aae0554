"""Management API, queues and jobs: GET /v1/queues, pause/resume, GET /v1/jobs/{id}."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from sidecar.http.api_support import queue_param, redis_client, settings
from sidecar.http.auth import require
from sidecar.queues.inspect import job_view
from sidecar.queues.names import all_queues
from sidecar.queues.overview import queue_counts, set_paused

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
