"""Prometheus counters of the gateway's request handling: requests answered, n8n's answer
time and errors, webhooks enqueued, fallbacks. Exposed by /metrics (http/metrics.py).
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Histogram

from sidecar.paths import WEBHOOK_PREFIXES

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
)

REQUESTS = Counter(
    "sidecar_http_requests_total",
    "HTTP requests answered by the gateway",
    ["path_class", "method", "mode", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "sidecar_upstream_latency_seconds",
    "Time until n8n's response headers arrived",
    ["path_class"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "sidecar_upstream_errors_total",
    "Requests n8n could not answer (unreachable or timed out)",
    ["kind"],
)
ENQUEUED = Counter("sidecar_webhooks_enqueued_total", "Webhooks stored as jobs", ["queue"])
FALLBACKS = Counter(
    "sidecar_fallbacks_total",
    "Webhooks handled another way because n8n or Redis was unavailable",
    ["to"],
)


PATH_CLASSES = frozenset({*WEBHOOK_PREFIXES, "v1", "healthz", "readyz", "metrics", "openapi.json"})
CACHED_CHILDREN = 4096  # label combinations kept resolved (each label's values are bounded)


def path_class(path: str) -> str:
    """A low-cardinality label for a request path: its first segment, or 'other'."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in PATH_CLASSES else "other"


@lru_cache(maxsize=CACHED_CHILDREN)
def answered(path_class: str, method: str, mode: str, status: int) -> Counter:
    """REQUESTS' child for these labels, resolved once (labels() locks and checks each time:
    2.5 % of a busy gateway's CPU)."""
    return REQUESTS.labels(path_class, method, mode, str(status))


@lru_cache(maxsize=CACHED_CHILDREN)
def upstream_latency(path_class: str) -> Histogram:
    """UPSTREAM_LATENCY's child for this path class, resolved once."""
    return UPSTREAM_LATENCY.labels(path_class=path_class)
