"""The mode as `GET /v1/mode` and `n8n-sidecar status` show it: one JSON-ready dict.

    {"mode", "pinned", "pinnedBy", "reason", "since", "source",
     "signals": {name: {"value", "threshold", "recoveryBelow", "state", "error",
                        "source", "blind", "note"}},
     "sampledAt", "history": [{"at", "from", "to", "reason", "pinned", "by"}, …]}

`state` is over (above the threshold), between (hysteresis band), under (below
recovery_ratio x threshold) or unknown (no sample, or its source failed). `source` names
what the signal measures (sources.py: n8n API, n8n metrics, answer time, host, gateway
count). A blind signal's value is shown only when it is over its threshold (then it is
evidence); otherwise `value` is null, `state` unknown and `note` says what to set
("unknown (set SIDECAR_N8N_API_KEY)"): a low blind value is never shown as reassurance.
Never raises: with Redis down it reports the fallback view with unknown signals.
"""

from __future__ import annotations

from typing import Any

from sidecar.errors import BackendUnavailable
from sidecar.isotime import iso
from sidecar.mode.controller import SIGNAL_NAMES, Thresholds
from sidecar.mode.local_store import AnyStore
from sidecar.mode.sources import SignalSource


def signal_state(value: float | None, threshold: float, recovery_below: float) -> str:
    """over, between, under or unknown."""
    if value is None:
        return "unknown"
    if value > threshold:
        return "over"
    return "under" if value < recovery_below else "between"


def describe_signals(
    sample: dict[str, Any] | None,
    thresholds: Thresholds,
    sources: dict[str, SignalSource] | None = None,
) -> dict[str, Any]:
    """Each signal's last value against its threshold and recovery level, and its source."""
    values = (sample or {}).get("values") or {}
    errors = (sample or {}).get("errors") or {}
    described = {}
    for name in SIGNAL_NAMES:
        value, limit = values.get(name), thresholds.limit(name)
        low = thresholds.recovery_limit(name)
        source = (sources or {}).get(name)
        hidden = source is not None and source.blind and value is not None and value <= limit
        shown = None if hidden else value
        described[name] = {
            "value": shown,
            "threshold": limit,
            "recoveryBelow": low,
            "state": signal_state(shown, limit, low),
            "error": errors.get(name),
            "source": source.source if source else None,
            "blind": bool(source and source.blind),
            "note": source.note if source and shown is None else None,
        }
    return described


def mode_report(
    store: AnyStore,
    thresholds: Thresholds,
    history: int = 10,
    sources: dict[str, SignalSource] | None = None,
) -> dict[str, Any]:
    """The mode, why and since when, the signals against their thresholds and their sources
    (`sources`: sources.signal_sources(settings)), recent history."""
    try:
        view, sample = store.read(), store.last_signals()
        entries = store.history(history)
    except BackendUnavailable:
        view, sample, entries = store.current(), None, []
    at = (sample or {}).get("at")
    return {
        **view.to_dict(),
        "signals": describe_signals(sample, thresholds, sources),
        "sampledAt": iso(at) if at else None,
        "history": entries,
    }
