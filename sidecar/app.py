"""Flask app factory: builds the gateway's parts from settings and wires them to the
blueprints. Only the server entry points (server.py, wsgi.py) import this module."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request

from sidecar.backend.connection import connect
from sidecar.backend.keys import keys_for
from sidecar.errors import BackendUnavailable
from sidecar.gateway_metrics import REQUESTS, path_class
from sidecar.http import api, dlq_api, health, jobs_api, metrics, mode_api, openapi
from sidecar.http.asgi import GatewayASGI
from sidecar.http.errors import error_answer
from sidecar.http.state import SidecarState, current_state, install_state, state_of
from sidecar.http.webhooks import WebhookGateway
from sidecar.ingress import Ingress
from sidecar.mode.counters import SignalCounters
from sidecar.mode.history import HistoryRecorder
from sidecar.mode.local_store import AnyStore, open_store
from sidecar.mode.monitor import Monitor
from sidecar.queues.durability import DurabilityProbe, log_durability
from sidecar.queues.intake import Intake
from sidecar.routes import load_routes
from sidecar.settings import Settings
from sidecar.status import page as status_page
from sidecar.upstream import Upstream
from sidecar.worker.circuit import CircuitView
from sidecar.worker.registry import live_worker_count

log = logging.getLogger("sidecar.app")


def create_app(settings: Settings) -> Flask:
    """Build the gateway WSGI app for `settings` (ConfigError for a bad routes file)."""
    app = Flask("sidecar")
    state = build_state(settings)
    install_state(app, state)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(dlq_api.blueprint)
    app.register_blueprint(jobs_api.blueprint)
    app.register_blueprint(mode_api.blueprint)
    app.register_blueprint(openapi.blueprint)
    status_page.install(app, settings)
    if not settings.admin_tokens:
        log.warning("SIDECAR_ADMIN_TOKENS is not set: the management API (/v1) refuses every call")
    _install_error_handlers(app)
    app.after_request(_stamp_response)
    app.wsgi_app = WebhookGateway(app.wsgi_app, state)  # type: ignore[method-assign]
    return app


def create_asgi_app(settings: Settings) -> tuple[GatewayASGI, Flask]:
    """The gateway as served (ADR-007): the ASGI app, webhooks on the event loop, and the
    Flask app it mounts for everything else (returned too, for the mode monitor)."""
    flask_app = create_app(settings)
    return GatewayASGI(flask_app, state_of(flask_app)), flask_app


def build_state(settings: Settings) -> SidecarState:
    """The gateway's parts for `settings`: n8n client, routes, Redis intake, mode store."""
    upstream = Upstream(
        settings.n8n_url, settings.upstream_timeout_seconds, pool_size=settings.gateway_threads
    )
    routes = load_routes(settings)
    client = connect(settings) if settings.redis_configured else None
    intake = Intake(client, settings, routes) if client is not None else None
    if client is not None:
        log_durability(client)  # what a 202 means here, and loud warnings
    store = open_store(client, keys_for(settings), configured=settings.mode)
    _apply_configured_mode(store, settings)
    counters = SignalCounters.from_settings(settings)
    circuit = CircuitView(client, keys_for(settings))
    ingress = Ingress(upstream, intake, routes, counters, circuit.is_open)
    durability = DurabilityProbe(client) if client is not None else None
    return SidecarState(settings, upstream, intake, store, routes, ingress, durability, counters)


def _apply_configured_mode(store: AnyStore, settings: Settings) -> None:
    """SIDECAR_MODE=single|queue pins the shared mode; auto lifts a pin made by config."""
    try:
        store.apply_configured(settings.mode)
    except BackendUnavailable as exc:
        log.warning(
            "cannot apply SIDECAR_MODE=%s yet, Redis is unavailable: %s", settings.mode, exc
        )


def start_monitor(app: Flask) -> Monitor:
    """Start the mode monitor of this gateway process (called by `serve`, not by tests)."""
    state = state_of(app)
    client = state.intake.client if state.intake else None
    monitor = Monitor(
        state.settings,
        client,
        counters=state.counters,
        store=state.store,
        n8n_health=state.upstream.healthy,
        live_workers=lambda: live_worker_count(client, keys_for(state.settings)) if client else 0,
        history=HistoryRecorder(client, state.settings.queue_prefix) if client else None,
    )
    return monitor.start()


def _stamp_response(response: Response) -> Response:
    """Add X-Sidecar-Mode to every answer and count it."""
    mode = current_state().current_mode()
    response.headers["X-Sidecar-Mode"] = mode
    REQUESTS.labels(
        path_class=path_class(request.path),
        method=request.method,
        mode=mode,
        status=str(response.status_code),
    ).inc()
    return response


def _install_error_handlers(app: Flask) -> None:
    """Every error becomes JSON {"error", "message"}: never an HTML page or a traceback."""

    @app.errorhandler(Exception)
    def _any(exc: Exception) -> Response:
        status, body, headers = error_answer(exc)
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response
