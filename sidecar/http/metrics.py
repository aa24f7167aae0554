"""/metrics: the Prometheus text exposition of this process's metrics, and, with Redis,
the queue and worker gauges read from it at scrape time.

With several gunicorn workers, `serve` sets PROMETHEUS_MULTIPROC_DIR before the app is
imported and `render_process()` aggregates every process's samples.
"""

from __future__ import annotations

import os

import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from sidecar.backend.keys import KeySchema, keys_for
from sidecar.backend.queue_names import all_queues
from sidecar.errors import BackendUnavailable
from sidecar.http.state import current_state
from sidecar.queues.metrics import QueueCollector
from sidecar.worker.metrics import WorkerCollector

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition (unauthenticated, as SPEC §5 says), with queue gauges
    read from Redis when it is configured."""
    state = current_state()
    payload, content_type = render_process()
    if state.intake is not None:
        queues = all_queues(state.settings.queue_prefix)
        payload += render_redis_gauges(state.intake.client, keys_for(state.settings), queues)
    return Response(payload, content_type=content_type)


def render_process() -> tuple[bytes, str]:
    """This process's (or every gunicorn worker's) metrics, and their content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def render_redis_gauges(client: redis.Redis, keys: KeySchema, queues: list[str]) -> bytes:
    """The queue and worker gauges in Prometheus text format (empty when Redis cannot be
    read: the process's own metrics still answer while Redis is down); `keys`: the sidecar's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(client, keys, queues))
    registry.register(WorkerCollector(client, keys, queues))
    try:
        return generate_latest(registry)
    except (redis.RedisError, BackendUnavailable):
        return b""
