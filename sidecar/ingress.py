"""Ingress: what happens to one captured webhook — passthrough to n8n, nothing else yet.

The queue path (enqueue, fallbacks) plugs in here; the HTTP layer only captures requests
and renders whatever Ingress returns.
"""

from __future__ import annotations

from sidecar.capture import CapturedRequest
from sidecar.errors import UpstreamError
from sidecar.telemetry import UPSTREAM_ERRORS, UPSTREAM_LATENCY, path_class
from sidecar.upstream import Upstream, UpstreamResponse


class Ingress:
    """Routes captured webhooks. Parameters: `upstream`, the shared n8n client."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def passthrough(self, captured: CapturedRequest) -> UpstreamResponse:
        """Forward to n8n and return its answer; UpstreamError when n8n gives none."""
        try:
            answer = self.upstream.send(captured)
        except UpstreamError as exc:
            UPSTREAM_ERRORS.labels(kind=exc.code).inc()
            raise
        UPSTREAM_LATENCY.labels(path_class=path_class(captured.path)).observe(answer.elapsed)
        return answer
