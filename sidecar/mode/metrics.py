"""Prometheus gauges of the mode: which mode, pinned or not, each signal and its threshold.

With several gunicorn workers the most recent value written by a live process is shown.
"""

from __future__ import annotations

import math

from prometheus_client import Gauge

from sidecar.mode.controller import MODES, SIGNAL_NAMES, Signals, Thresholds

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
    "Last sampled value of an ADR-001 signal (NaN when its source failed)",
    ["signal"],
    multiprocess_mode="livemostrecent",
)
THRESHOLD = Gauge(
    "sidecar_signal_threshold",
    "Threshold of an ADR-001 signal",
    ["signal"],
    multiprocess_mode="livemostrecent",
)


def publish_mode(mode: str, pinned: bool) -> None:
    """Set the mode gauges."""
    for name in MODES:
        MODE.labels(mode=name).set(1 if name == mode else 0)
    PINNED.set(1 if pinned else 0)


def publish_signals(signals: Signals, thresholds: Thresholds) -> None:
    """Set each signal's gauge and its threshold's."""
    for name in SIGNAL_NAMES:
        value = signals.value(name)
        SIGNAL.labels(signal=name).set(math.nan if value is None else value)
        THRESHOLD.labels(signal=name).set(thresholds.limit(name))
