"""What each signal measures, by configuration: its source, and whether it is blind.

    webhooks_per_hour      gateway count   webhooks the gateways received (rate.py)
    exec_p95_seconds       n8n API         n8n's execution durations, with the answer time
                                           (SIDECAR_N8N_API_KEY set)
                           answer time     n8n's answer time alone: BLIND (see below)
    memory_percent         n8n metrics     n8n's resident memory / SIDECAR_N8N_MEMORY_LIMIT_BYTES
                           host            the sidecar's cgroup, or the machine
    eventloop_lag_seconds  n8n metrics     n8n's p99 event-loop lag (/metrics); read only with
                                           SIDECAR_MEMORY_SOURCE=n8n, which says n8n serves
                                           /metrics (N8N_METRICS=true) — else unknown

A signal is *blind* when its source cannot see what ADR-001 means. Without an API key the
execution time is the answer time, and for a "respond immediately" webhook n8n answers in
milliseconds however long the workflow runs: the answer time is only a lower bound. A blind
value above its threshold is still evidence of overload (it is shown and may switch); a
value below it proves nothing, so it is shown as BLIND_NOTE, never as a number, and it
never counts towards recovery (controller.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidecar.settings import Settings

GATEWAY_COUNT = "gateway count"
N8N_API = "n8n API"
N8N_METRICS = "n8n metrics"
ANSWER_TIME = "answer time"
HOST = "host"
BLIND_NOTE = "unknown (set SIDECAR_N8N_API_KEY)"
LAG_OFF_NOTE = "unknown (set SIDECAR_MEMORY_SOURCE=n8n: n8n's /metrics is not read)"


@dataclass(frozen=True)
class SignalSource:
    """Where one signal comes from; `blind` when it cannot see what it stands for."""

    source: str
    blind: bool = False
    note: str | None = None  # what to show when there is no value to show

    def to_dict(self) -> dict[str, Any]:
        """The source as a JSON-ready dict."""
        return {"source": self.source, "blind": self.blind}


def has_api_key(settings: Settings) -> bool:
    """True when SIDECAR_N8N_API_KEY is set to something."""
    key = settings.n8n_api_key
    return bool(key is not None and key.get_secret_value())


def signal_sources(settings: Settings) -> dict[str, SignalSource]:
    """Every signal's source under `settings`."""
    if has_api_key(settings):
        execution = SignalSource(N8N_API)
    else:
        execution = SignalSource(ANSWER_TIME, blind=True, note=BLIND_NOTE)
    memory = N8N_METRICS if reads_n8n_metrics(settings) else HOST
    lag = SignalSource(N8N_METRICS, note=None if reads_n8n_metrics(settings) else LAG_OFF_NOTE)
    return {
        "webhooks_per_hour": SignalSource(GATEWAY_COUNT),
        "exec_p95_seconds": execution,
        "memory_percent": SignalSource(memory),
        "eventloop_lag_seconds": lag,
    }


def reads_n8n_metrics(settings: Settings) -> bool:
    """True when n8n's /metrics is read: SIDECAR_MEMORY_SOURCE=n8n says n8n serves it."""
    return settings.memory_source == "n8n"


def blind_signals(settings: Settings) -> frozenset[str]:
    """The names of the blind signals under `settings`."""
    return frozenset(name for name, s in signal_sources(settings).items() if s.blind)
