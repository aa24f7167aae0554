"""Prometheus gauges of the mode: which mode, pinned or not, each signal and its threshold,
what each signal measures (`sidecar_signal_source{signal,source}` = 1) and whether it is
blind (`sidecar_signal_blind`); a blind signal's value is NaN unless it is over its
threshold, never a reassuring number (sources.py).

With several gunicorn workers the most recent value written by a live process is shown.
"""

from __future__ import annotations

import math

from prometheus_client import Gauge

from sidecar.mode.controller import MODES, SIGNAL_NAMES, Signals, Thresholds
from sidecar.mode.sources import SignalSource

MODE = Gauge(
    "sidecar_mode",
    "1 for the mode webhooks are handled in",
    ["mode"],
    multiprocess_mode="livemostrecent",
)
PINNED = Gauge(
    "sidecar_mode_pinned", "1 when the mode is pinned", multiprocess_mode="livemostrecent"
)
SIGNAL = Gauge(
    "sidecar_signal",
    "Last sampled value of a mode signal (NaN when its source failed or it is blind and low)",
    ["signal"],
    multiprocess_mode="livemostrecent",
)
THRESHOLD = Gauge(
    "sidecar_signal_threshold",
    "Threshold of a mode signal",
    ["signal"],
    multiprocess_mode="livemostrecent",
)
SOURCE = Gauge(
    "sidecar_signal_source",
    "1 for what a mode signal measures: n8n API, n8n metrics, answer time, host, gateway count",
    ["signal", "source"],
    multiprocess_mode="livemostrecent",
)
BLIND = Gauge(
    "sidecar_signal_blind",
    "1 when a mode signal cannot see what it stands for (e.g. no SIDECAR_N8N_API_KEY)",
    ["signal"],
    multiprocess_mode="livemostrecent",
)


def publish_mode(mode: str, pinned: bool) -> None:
    """Set the mode gauges."""
    for name in MODES:
        MODE.labels(mode=name).set(1 if name == mode else 0)
    PINNED.set(1 if pinned else 0)


def publish_signals(
    signals: Signals, thresholds: Thresholds, sources: dict[str, SignalSource] | None = None
) -> None:
    """Set each signal's gauge and its threshold's (and, given `sources`, source and blindness)."""
    for name in SIGNAL_NAMES:
        value, limit = signals.value(name), thresholds.limit(name)
        source = (sources or {}).get(name)
        hidden = value is None or (source is not None and source.blind and value <= limit)
        SIGNAL.labels(signal=name).set(math.nan if hidden else value)
        THRESHOLD.labels(signal=name).set(limit)
        if source is not None:
            SOURCE.labels(signal=name, source=source.source).set(1)
            BLIND.labels(signal=name).set(1 if source.blind else 0)
