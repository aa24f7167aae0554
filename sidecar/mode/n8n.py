"""What n8n itself reports: execution durations (public API) and resident memory (/metrics).

* `GET {N8N_URL}/api/v1/executions?limit=N` with header `X-N8N-API-KEY` answers
  `{"data": [{"id", "status", "startedAt", "stoppedAt", …}], "nextCursor"}`, newest first;
  `stoppedAt` is null while an execution runs. Only finished executions that stopped inside
  the window count (a running or waiting one has no duration yet).
* `GET {N8N_URL}/metrics` (N8N_METRICS=true) is Prometheus text; n8n prefixes prom-client's
  default metrics with N8N_METRICS_PREFIX (`n8n_` by default), so any
  `…process_resident_memory_bytes` sample is taken, and likewise
  `…nodejs_eventloop_lag_p99_seconds` (n8n 1.123: `n8n_nodejs_eventloop_lag_p99_seconds`,
  the p99 event-loop delay prom-client measures with perf_hooks).

Both raise `N8nSourceError` when n8n cannot give the figure; the sampler turns that into None.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from sidecar.errors import SidecarError

API_KEY_HEADER = "X-N8N-API-KEY"
EXECUTIONS_PATH = "/api/v1/executions"
METRICS_PATH = "/metrics"
RSS_METRIC = "process_resident_memory_bytes"
LAG_METRIC = "nodejs_eventloop_lag_p99_seconds"
DEFAULT_LIMIT = 100  # n8n's default page; its maximum is 250
TIMEOUT_SECONDS = 5.0


class N8nSourceError(SidecarError):
    """n8n did not give a usable answer for a signal."""


def _timestamp(value: object) -> float | None:
    """Unix seconds of an ISO-8601 timestamp such as '2025-01-20T10:30:00.000Z'."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def execution_durations(body: Any, since: float | None = None) -> list[float]:
    """Durations (s) of finished executions in an /executions answer, stopped after `since`."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise N8nSourceError("n8n's /api/v1/executions answer has no 'data' list")
    durations = []
    for item in body["data"]:
        if not isinstance(item, dict):
            continue
        started, stopped = _timestamp(item.get("startedAt")), _timestamp(item.get("stoppedAt"))
        if started is None or stopped is None or stopped < started:
            continue
        if since is None or stopped > since:
            durations.append(stopped - started)
    return durations


def metric_value(text: str, metric: str) -> float:
    """The first sample of `metric` (any prefix) in Prometheus text; N8nSourceError if absent."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ") if "{" not in line else line.partition("{")
        if name == metric or name.endswith("_" + metric):
            value = rest.rsplit("}", 1)[-1].split()
            try:
                return float(value[0])
            except (IndexError, ValueError):
                raise N8nSourceError(f"unreadable {metric} sample: {line!r}") from None
    raise N8nSourceError(f"n8n's /metrics has no {metric} (is N8N_METRICS=true?)")


def resident_memory_bytes(text: str) -> float:
    """n8n's resident memory from its Prometheus text; N8nSourceError when absent."""
    return metric_value(text, RSS_METRIC)


def eventloop_lag_seconds(text: str) -> float:
    """n8n's p99 event-loop lag from its Prometheus text; N8nSourceError when absent."""
    return metric_value(text, LAG_METRIC)


class N8nClient:
    """Reads n8n's API and metrics. Parameters: `base_url` (N8N_URL), `api_key` (None: no
    API access), `session` (a requests.Session; one is made when None), `limit`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        session: requests.Session | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.base_url, self.api_key, self.limit = base_url.rstrip("/"), api_key, limit
        self.session = session or requests.Session()

    def execution_durations(self, since: float | None = None) -> list[float]:
        """Durations of the latest finished executions that stopped after `since`."""
        if not self.api_key:
            raise N8nSourceError("SIDECAR_N8N_API_KEY is not set")
        response = self._get(
            EXECUTIONS_PATH, params={"limit": self.limit}, headers={API_KEY_HEADER: self.api_key}
        )
        try:
            body = response.json()
        except ValueError:
            raise N8nSourceError("n8n's /api/v1/executions did not answer JSON") from None
        return execution_durations(body, since)

    def metrics_text(self) -> str:
        """n8n's /metrics, as Prometheus text."""
        return self._get(METRICS_PATH).text

    def resident_memory_bytes(self) -> float:
        """n8n's resident memory (bytes) from its /metrics."""
        return resident_memory_bytes(self.metrics_text())

    def eventloop_lag_seconds(self) -> float:
        """n8n's p99 event-loop lag (seconds) from its /metrics."""
        return eventloop_lag_seconds(self.metrics_text())

    def _get(self, path: str, **options: Any) -> requests.Response:
        """GET a path of n8n; N8nSourceError on a network error or a non-2xx answer."""
        try:
            response = self.session.get(self.base_url + path, timeout=TIMEOUT_SECONDS, **options)
        except requests.RequestException as exc:
            raise N8nSourceError(f"n8n unreachable for {path}: {exc}") from None
        if not response.ok:
            raise N8nSourceError(f"n8n answered {response.status_code} for {path}")
        return response
