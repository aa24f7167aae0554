"""Unicode sparklines (▁▂▃▄▅▆▇█) of the recorded history, for `n8n-sidecar status --watch`."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from sidecar.backend.keys import KeySchema
from sidecar.mode.controller import SIGNAL_NAMES
from sidecar.mode.history import MINUTE, SIGNAL_FIELDS, SIGNALS_SERIES, History, column

BARS = "▁▂▃▄▅▆▇█"
MISSING = " "


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value, scaled from the smallest to the largest; a blank for None."""
    known = [v for v in values if v is not None]
    if not known:
        return MISSING * len(values)
    low, high = min(known), max(known)
    top = len(BARS) - 1
    if high == low:
        flat = BARS[0] if high == 0 else BARS[top // 2]
        return "".join(MISSING if v is None else flat for v in values)
    return "".join(
        MISSING if v is None else BARS[round((v - low) / (high - low) * top)] for v in values
    )


def per_minute(points: list[tuple[float, float]], now: float, minutes: int) -> list[float | None]:
    """The last `minutes` minutes up to `now`, oldest first: the value or None."""
    last = int(now // MINUTE)
    slots: list[float | None] = [None] * minutes
    for at, value in points:
        index = minutes - 1 - (last - int(at // MINUTE))
        if 0 <= index < minutes:
            slots[index] = value
    return slots


def signal_minutes(
    client: redis.Redis, keys: KeySchema, now: float, minutes: int = 60
) -> dict[str, list]:
    """Each signal's last `minutes` minutes from the history (None where nothing recorded)."""
    rows = History(client, keys).rows(SIGNALS_SERIES, now - minutes * MINUTE)
    return {
        name: per_minute(column(rows, SIGNAL_FIELDS, name), now, minutes) for name in SIGNAL_NAMES
    }


def render_sparklines(series: dict[str, list[float | None]]) -> str:
    """The sparkline block of `status --watch`: one line per signal with its range."""
    minutes = max((len(v) for v in series.values()), default=0)
    lines = [f"last {minutes} min (one bar a minute, scaled min..max)"]
    for name, values in series.items():
        known = [v for v in values if v is not None]
        scope = f"{min(known):g}..{max(known):g}" if known else "no history yet"
        lines.append(f"{name:20}{sparkline(values)}  {scope}")
    return "\n".join(lines)
