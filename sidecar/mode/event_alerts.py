"""The alert a mode-controller event raises (sidecar/mode/controller.py decides, the monitor
raises it through sidecar/alerts.py)."""

from __future__ import annotations

from sidecar.alerts import MODE_CHANGED, Alert
from sidecar.mode.controller import Event, Signals


def alert_from_event(event: Event, signals: Signals, mode: str, at: float) -> tuple[Alert, str]:
    """The alert for a controller event, and its de-duplication subject."""
    subject = event.signal or (mode if event.kind == MODE_CHANGED else "")
    return Alert.make(event.kind, event.message, mode, signals.to_dict(), at), subject
