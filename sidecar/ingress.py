"""Ingress: what happens to one captured webhook — passthrough, enqueue, or fall back.

queue mode, /webhook/*  -> enqueue (202); Redis down -> passthrough; n8n not reached
                           either -> 503 + Retry-After
single mode             -> passthrough; n8n not reached and Redis configured -> enqueue
                           (202) instead of failing; while the workers' n8n circuit is open
                           (worker/circuit.py) -> enqueue without trying n8n
other paths             -> always passthrough (test, waiting, form and MCP webhooks)
OPTIONS                 -> always passthrough, unsigned (CORS preflight: n8n answers it
                           itself and never runs a workflow for it)

The route is matched once, on the canonical path capture computed (`route_path`), and
travels with the request to the intake (a `Route`: the rule and its queue, resolved when the
routes loaded).

A fallback only ever re-sends what n8n provably never got (UpstreamNotReached: refused,
connect timeout, DNS failure, cut before the request was written). After n8n got the
request, the sender gets n8n's own answer (502/503/504 included, unchanged) or our 504
upstream_timeout / 502: queueing it would run the workflow a second time.

Names: the ingress decides what happens to a webhook at the door; the intake
(sidecar/queues/intake.py) writes every job; admission (sidecar/queues/admission.py) is the
one Redis round trip that lets a job in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sidecar.capture import CapturedRequest
from sidecar.errors import (
    BackendUnavailable,
    ServiceUnavailable,
    UpstreamError,
    UpstreamNotReached,
)
from sidecar.gateway_metrics import (
    ENQUEUED,
    FALLBACKS,
    UPSTREAM_ERRORS,
    UPSTREAM_LATENCY,
    path_class,
)
from sidecar.guards.signature import verify_secret, verify_signature
from sidecar.mode.counters import SignalCounters
from sidecar.queues.intake import Intake, Queued
from sidecar.redact import redact
from sidecar.routes import Route, Routes
from sidecar.upstream import Upstream, UpstreamResponse

log = logging.getLogger("sidecar.ingress")
QUEUED_PATH_PREFIX = "/webhook/"
PASSTHROUGH_METHODS = frozenset({"OPTIONS"})
RETRY_AFTER_SECONDS = "5"


class Ingress:
    """Decides per webhook. Parameters: `upstream` (n8n client), `intake` (None without
    Redis), `routes`, `counters` (this process's signal counters: n8n's answer times),
    `circuit_open` (whether the workers found n8n unreachable)."""

    def __init__(
        self,
        upstream: Upstream,
        intake: Intake | None,
        routes: Routes,
        counters: SignalCounters,
        circuit_open: Callable[[], bool] = lambda: False,
    ) -> None:
        self.upstream, self.intake, self.routes = upstream, intake, routes
        self.counters, self.circuit_open = counters, circuit_open

    def handle(self, captured: CapturedRequest, mode: str) -> UpstreamResponse | Queued:
        """Passthrough or enqueue `captured` in `mode` (read once per request by the caller,
        so the answer's X-Sidecar-Mode names the mode that decided), per the table above."""
        if captured.method in PASSTHROUGH_METHODS:
            return self.passthrough(captured)
        route = self.queue_route(captured, self.intake is not None)
        if route is not None and (mode == "queue" or self.circuit_open()):
            return self._enqueue_or_passthrough(captured, route)
        return self._passthrough_or_enqueue(captured, route)

    def queue_route(self, captured: CapturedRequest, can_queue: bool) -> Route | None:
        """Match the route once and check its signature or secret (raising when they do not
        hold); the route when `captured` may be queued (`can_queue`: Redis is there), else
        None (not under /webhook/, or a `sync` rule)."""
        path = captured.resolved_path()
        route = self.routes.match(path)
        rule = route.rule
        if rule.hmac is not None:
            verify_signature(captured, rule.hmac)
        if rule.secret is not None:
            verify_secret(captured, rule.secret)
        queueable = can_queue and path.startswith(QUEUED_PATH_PREFIX) and not rule.sync
        return route if queueable else None

    def passthrough(self, captured: CapturedRequest) -> UpstreamResponse:
        """Forward to n8n and return its answer; UpstreamError when n8n gives none."""
        try:
            answer = self.upstream.send(captured)
        except UpstreamError as exc:
            UPSTREAM_ERRORS.labels(kind=exc.code).inc()
            raise
        UPSTREAM_LATENCY.labels(path_class=path_class(captured.path)).observe(answer.elapsed)
        self.counters.record_latency(answer.elapsed)
        return answer

    def enqueue(self, captured: CapturedRequest, route: Route) -> Queued:
        """Store the webhook under its `route`; BackendUnavailable when Redis cannot take it."""
        assert self.intake is not None
        queued = self.intake.enqueue(captured, route)
        ENQUEUED.labels(queue=queued.queue).inc()
        return queued

    def _enqueue_or_passthrough(
        self, captured: CapturedRequest, route: Route
    ) -> UpstreamResponse | Queued:
        try:
            return self.enqueue(captured, route)
        except BackendUnavailable as exc:
            log.warning("queue mode but Redis is unusable, passing through: %s", redact(str(exc)))
            FALLBACKS.labels(to="passthrough").inc()
        try:
            return self.passthrough(captured)
        except UpstreamNotReached as exc:
            raise both_down(exc) from None

    def _passthrough_or_enqueue(
        self, captured: CapturedRequest, queue_route: Route | None
    ) -> UpstreamResponse | Queued:
        """Passthrough; fall back to queueing under `queue_route` (None: never queue)."""
        try:
            return self.passthrough(captured)
        except UpstreamNotReached as exc:
            if queue_route is None:
                raise
            return self._fallback_enqueue(captured, queue_route, exc)

    def _fallback_enqueue(
        self, captured: CapturedRequest, route: Route, cause: UpstreamError
    ) -> Queued:
        try:
            queued = self.enqueue(captured, route)
        except BackendUnavailable:
            raise both_down(cause) from None
        log.warning("%s: webhook queued as job %s", redact(str(cause)), queued.job_id)
        FALLBACKS.labels(to="queue").inc()
        return queued


def both_down(cause: UpstreamError) -> ServiceUnavailable:
    """The 503 the sender gets when neither n8n nor Redis can take the webhook; the
    details (internal addresses) go to the log only."""
    log.warning("n8n and Redis both unusable: %s", redact(str(cause)))
    return ServiceUnavailable(
        "n8n and Redis are both unavailable; retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )
