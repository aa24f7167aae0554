"""The mode as `GET /v1/mode` and `n8n-sidecar status` show it: one JSON-ready dict.

    {"mode", "pinned", "pinnedBy", "reason", "since", "source",
     "signals": {name: {"value", "threshold", "recoveryBelow", "state", "error"}},
     "sampledAt", "history": [{"at", "from", "to", "reason", "pinned", "by"}, …]}

`state` is over (above the threshold), between (hysteresis band), under (below
recovery_ratio x threshold) or unknown (no sample, or its source failed). Never raises:
with Redis down it reports the fallback view with unknown signals and no history.
"""

from __future__ import annotations

from typing import Any

from sidecar.errors import BackendUnavailable
from sidecar.mode.controller import SIGNAL_NAMES, Thresholds
from sidecar.mode.local_store import AnyStore
from sidecar.mode.store import iso


def signal_state(value: float | None, threshold: float, recovery_below: float) -> str:
    """over, between, under or unknown."""
    if value is None:
        return "unknown"
    if value > threshold:
        return "over"
    return "under" if value < recovery_below else "between"


def describe_signals(sample: dict[str, Any] | None, thresholds: Thresholds) -> dict[str, Any]:
    """Each signal's last value against its threshold and recovery level."""
    values = (sample or {}).get("values") or {}
    errors = (sample or {}).get("errors") or {}
    described = {}
    for name in SIGNAL_NAMES:
        value, limit = values.get(name), thresholds.limit(name)
        low = thresholds.recovery_limit(name)
        described[name] = {
            "value": value,
            "threshold": limit,
            "recoveryBelow": low,
            "state": signal_state(value, limit, low),
            "error": errors.get(name),
        }
    return described


def mode_report(store: AnyStore, thresholds: Thresholds, history: int = 10) -> dict[str, Any]:
    """The mode, why and since when, the signals against their thresholds, recent history."""
    try:
        view, sample = store.read(), store.last_signals()
        entries = store.history(history)
    except BackendUnavailable:
        view, sample, entries = store.current(), None, []
    at = (sample or {}).get("at")
    return {
        **view.to_dict(),
        "signals": describe_signals(sample, thresholds),
        "sampledAt": iso(at) if at else None,
        "history": entries,
    }
