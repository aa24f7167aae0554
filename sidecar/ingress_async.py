"""The ingress on the event loop (ADR-007): the table of sidecar/ingress.py, with the
passthrough on the loop's own n8n client (sidecar/upstream_async.py) so that no thread
waits for n8n.

The decisions are the sync Ingress's own (same guards, same fallbacks, same metrics); only
the two ways out differ: `AsyncUpstream.send` for passthrough, and `AsyncIntake.enqueue`
(sidecar/queues/intake_async.py: the intake's one round trip through redis.asyncio). The
mode and the n8n circuit are read by the caller without waiting on the loop
(sidecar/http/asgi_mode.py).
"""

from __future__ import annotations

import logging

from sidecar.capture import CapturedRequest
from sidecar.errors import BackendUnavailable, UpstreamError, UpstreamNotReached
from sidecar.gateway_metrics import (
    ENQUEUED,
    FALLBACKS,
    UPSTREAM_ERRORS,
    path_class,
    upstream_latency,
)
from sidecar.ingress import PASSTHROUGH_METHODS, Ingress, both_down
from sidecar.queues.intake import Queued
from sidecar.queues.intake_async import AsyncIntake
from sidecar.redact import redact
from sidecar.routes import Route
from sidecar.upstream_async import AsyncUpstream, AsyncUpstreamResponse

log = logging.getLogger("sidecar.ingress")


class AsyncIngress:
    """Decides per webhook as `ingress` does. Parameters: `ingress` (the sync Ingress: its
    routes and counters), `upstream` (the loop's n8n client), `intake` (the loop's intake;
    None without Redis)."""

    def __init__(
        self, ingress: Ingress, upstream: AsyncUpstream, intake: AsyncIntake | None
    ) -> None:
        self.sync, self.upstream, self.intake = ingress, upstream, intake

    async def handle(
        self, captured: CapturedRequest, mode: str, circuit_open: bool
    ) -> AsyncUpstreamResponse | Queued:
        """Passthrough or enqueue `captured` in `mode` (see sidecar/ingress.py)."""
        if captured.method in PASSTHROUGH_METHODS:
            return await self.passthrough(captured)
        route = self.sync.queue_route(captured, self.intake is not None)
        if route is not None and (mode == "queue" or circuit_open):
            return await self._enqueue_or_passthrough(captured, route)
        return await self._passthrough_or_enqueue(captured, route)

    async def passthrough(self, captured: CapturedRequest) -> AsyncUpstreamResponse:
        """Forward to n8n and return its answer; UpstreamError when n8n gives none."""
        try:
            answer = await self.upstream.send(captured)
        except UpstreamError as exc:
            UPSTREAM_ERRORS.labels(kind=exc.code).inc()
            raise
        upstream_latency(path_class(captured.path)).observe(answer.elapsed)
        self.sync.counters.record_latency(answer.elapsed)
        return answer

    async def enqueue(self, captured: CapturedRequest, route: Route) -> Queued:
        """Store the webhook under its `route`; BackendUnavailable when Redis cannot take it."""
        assert self.intake is not None
        queued = await self.intake.enqueue(captured, route)
        ENQUEUED.labels(queue=queued.queue).inc()
        return queued

    async def _enqueue_or_passthrough(
        self, captured: CapturedRequest, route: Route
    ) -> AsyncUpstreamResponse | Queued:
        try:
            return await self.enqueue(captured, route)
        except BackendUnavailable as exc:
            log.warning("queue mode but Redis is unusable, passing through: %s", redact(str(exc)))
            FALLBACKS.labels(to="passthrough").inc()
        try:
            return await self.passthrough(captured)
        except UpstreamNotReached as exc:
            raise both_down(exc) from None

    async def _passthrough_or_enqueue(
        self, captured: CapturedRequest, queue_route: Route | None
    ) -> AsyncUpstreamResponse | Queued:
        try:
            return await self.passthrough(captured)
        except UpstreamNotReached as exc:
            if queue_route is None:
                raise
            cause = exc
        try:
            queued = await self.enqueue(captured, queue_route)
        except BackendUnavailable:
            raise both_down(cause) from None
        log.warning("%s: webhook queued as job %s", redact(str(cause)), queued.job_id)
        FALLBACKS.labels(to="queue").inc()
        return queued
