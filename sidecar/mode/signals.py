"""The signals (ADR-001's three and n8n's event-loop lag), sampled; each source fails soft.

The webhook and answer-time counts come from this process's counters (counters.py), made
where the app or worker is built and handed to the sampler.

`SignalSampler.sample()` builds a `Signals`: a source that fails (Redis down, n8n
unreachable, a missing file) gives None and is logged once when it starts failing and
once when it recovers — it never raises. n8n's /metrics is fetched at most once per sample
(memory and event-loop lag share it). Blind signals (sources.py) are marked in the sample.

`shared_eventloop_lag(store)` gives other parts (e.g. a delivery pace) n8n's last sampled
event-loop lag without asking n8n again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from sidecar.backend.keys import keys_for
from sidecar.mode.controller import Signals
from sidecar.mode.latency import LatencyReservoir, percentile
from sidecar.mode.memory import CGROUP_ROOT, host_memory_percent
from sidecar.mode.n8n import N8nClient, eventloop_lag_seconds, resident_memory_bytes
from sidecar.mode.rate import RateCounter
from sidecar.mode.sources import blind_signals, reads_n8n_metrics
from sidecar.settings import Settings

log = logging.getLogger("sidecar.mode.signals")


class SoftSource:
    """Wraps one signal source: None instead of an exception, logged on state changes."""

    def __init__(self, name: str, read: Callable[[], float | None]) -> None:
        self.name, self.read = name, read
        self.error: str | None = None

    def __call__(self) -> float | None:
        """The source's value, or None when it failed."""
        try:
            value = self.read()
        except Exception as exc:
            if self.error is None:
                log.warning("signal %s unavailable: %s", self.name, exc)
            self.error = str(exc) or type(exc).__name__
            return None
        if self.error is not None:
            log.info("signal %s available again", self.name)
            self.error = None
        return None if value is None else float(value)


class SignalSampler:
    """Samples the signals. Parameters: `settings`, `client` (None without Redis), `n8n`
    (an N8nClient; made from settings when None), the process counters `rate` and `latency`
    (fresh ones when None: then only what Redis holds is seen), `cgroup_root`."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis | None,
        n8n: N8nClient | None = None,
        rate: RateCounter | None = None,
        latency: LatencyReservoir | None = None,
        cgroup_root: Path = CGROUP_ROOT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.client, self.clock = settings, client, clock
        self.rate = rate if rate is not None else RateCounter()
        self.latency = latency if latency is not None else LatencyReservoir()
        self.cgroup_root = cgroup_root
        key = settings.n8n_api_key.get_secret_value() if settings.n8n_api_key else None
        self.n8n = n8n or N8nClient(settings.n8n_url, key)
        self.sources = {
            "webhooks_per_hour": SoftSource("webhooks_per_hour", self.webhooks_per_hour),
            "exec_p95_seconds": SoftSource("exec_p95_seconds", self.exec_p95_seconds),
            "memory_percent": SoftSource("memory_percent", self.memory_percent),
            "eventloop_lag_seconds": SoftSource("eventloop_lag_seconds", self.eventloop_lag),
        }
        self._executions = SoftSource("n8n_executions", self.n8n_exec_p95_seconds)
        self.blind = blind_signals(settings)
        self._metrics: str | Exception | None = None

    def sample(self) -> Signals:
        """One sample of every signal (None where a source failed)."""
        self._metrics = None  # n8n's /metrics: fetched again, once, for this sample
        values = {name: source() for name, source in self.sources.items()}
        return Signals(**values, blind=self.blind)

    def errors(self) -> dict[str, str]:
        """Why each currently failing source (or n8n's execution list) failed."""
        sources = [*self.sources.values(), self._executions]
        return {s.name: s.error for s in sources if s.error is not None}

    def webhooks_per_hour(self) -> float:
        """Webhooks received in the last hour across gateways."""
        return self.rate.per_hour(self.client, keys_for(self.settings))

    def exec_p95_seconds(self) -> float | None:
        """The larger of the p95 answer time and (with an API key) n8n's p95 execution time."""
        answers = self.latency.p95(self.client, keys_for(self.settings))
        if not self.n8n.api_key:
            return answers
        executions = self._executions()
        found = [v for v in (answers, executions) if v is not None]
        return max(found) if found else None

    def n8n_exec_p95_seconds(self) -> float | None:
        """p95 duration of the executions n8n finished within the latency window."""
        since = self.clock() - self.latency.window_seconds
        return percentile(self.n8n.execution_durations(since))

    def memory_percent(self) -> float:
        """Memory in use (%), per SIDECAR_MEMORY_SOURCE."""
        if self.settings.memory_source == "n8n":
            limit = float(self.settings.n8n_memory_limit_bytes)
            return resident_memory_bytes(self.n8n_metrics()) / limit * 100.0
        return host_memory_percent(self.cgroup_root)

    def eventloop_lag(self) -> float | None:
        """n8n's p99 event-loop lag (s) from its /metrics; None when /metrics is not read."""
        if not reads_n8n_metrics(self.settings):
            return None
        return eventloop_lag_seconds(self.n8n_metrics())

    def n8n_metrics(self) -> str:
        """n8n's /metrics text, fetched once per sample (a failure too is not retried)."""
        if self._metrics is None:
            try:
                self._metrics = self.n8n.metrics_text()
            except Exception as exc:
                self._metrics = exc
        if isinstance(self._metrics, Exception):
            raise self._metrics
        return self._metrics


def shared_eventloop_lag(
    store: Any, max_age_seconds: float, now: float | None = None
) -> float | None:
    """n8n's event-loop lag (s) from the evaluator's last sample in `store` (a ModeStore);
    None when there is none, it is older than `max_age_seconds`, or Redis fails."""
    try:
        sample = store.last_signals()
    except Exception:
        return None
    if (
        not sample
        or (now if now is not None else time.time()) - sample.get("at", 0) > max_age_seconds
    ):
        return None
    value = (sample.get("values") or {}).get("eventloop_lag_seconds")
    return None if value is None else float(value)
