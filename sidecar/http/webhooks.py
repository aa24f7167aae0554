"""Webhook routes: the same paths and methods as n8n, handed to Ingress."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.routing import BaseConverter

from sidecar.capture import capture
from sidecar.queues.intake import Queued
from sidecar.upstream import UpstreamResponse

PREFIXES = (
    "webhook",
    "webhook-test",
    "webhook-waiting",
    "form",
    "form-test",
    "form-waiting",
    "mcp",
    "mcp-test",
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

blueprint = Blueprint("webhooks", __name__)


class AnyPathConverter(BaseConverter):
    """Whatever follows the prefix, empty, with slashes or decoded control characters."""

    regex = r"[\s\S]*"
    weight = 300
    part_isolating = False


@blueprint.record_once
def _register_converter(state: object) -> None:
    app: Flask = state.app  # type: ignore[attr-defined]
    app.url_map.converters["anypath"] = AnyPathConverter


def handle_webhook(rest: str = "") -> Response:
    """Capture the request and answer with what Ingress decided."""
    state = current_app.extensions["sidecar"]
    captured = capture(request.environ, state.settings.max_body_bytes)
    outcome = state.ingress.handle(captured)
    if isinstance(outcome, Queued):
        return queued_response(outcome)
    return to_flask(outcome)


def queued_response(queued: Queued) -> Response:
    """202 {"status":"queued","jobId","queue"} with X-Sidecar-Job-Id."""
    response = jsonify(queued.body())
    response.status_code = 202
    response.headers["X-Sidecar-Job-Id"] = queued.job_id
    return response


def to_flask(answer: UpstreamResponse) -> Response:
    """n8n's answer as a streamed Flask response with n8n's status and headers."""
    response = Response(answer.iter_body(), status=answer.status, direct_passthrough=True)
    response.headers.clear()
    for key, value in answer.headers:
        response.headers.add(key, value)
    return response


for _prefix in PREFIXES:
    blueprint.add_url_rule(
        f"/{_prefix}/<anypath:rest>",
        endpoint=_prefix,
        view_func=handle_webhook,
        methods=METHODS,
        provide_automatic_options=False,
    )
