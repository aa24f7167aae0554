"""The `day` scenario's picture: each signal against its threshold over 24 h, and the mode
timelines of the controller and of the naive baseline below them — one hand-written SVG."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from sidecar.mode.controller import QUEUE, SIGNAL_NAMES, Signals, Thresholds

WIDTH, LEFT, RIGHT, TOP = 1100, 170, 20, 40
PANEL, GAP, STRIP = 70, 12, 20
CEILING = 1.6  # values are drawn as value / threshold, clipped here
LABELS = {
    "webhooks_per_hour": "webhooks / h",
    "exec_p95_seconds": "execution p95",
    "memory_percent": "n8n memory %",
    "eventloop_lag_seconds": "n8n event-loop lag",
}
COLOURS = {
    "webhooks_per_hour": "#1f77b4",
    "exec_p95_seconds": "#9467bd",
    "memory_percent": "#2ca02c",
    "eventloop_lag_seconds": "#ff7f0e",
}


def x_of(at: float, span: float) -> float:
    """The x coordinate of simulated time `at` (seconds) in a day of `span` seconds."""
    return LEFT + (WIDTH - LEFT - RIGHT) * at / span


def by_minute(times: Sequence[float], values: Sequence[float | None]) -> list[tuple[float, float]]:
    """The largest value of each simulated minute (spikes stay visible), gaps dropped."""
    buckets: dict[int, tuple[float, float]] = {}
    for at, value in zip(times, values, strict=True):
        if value is None:
            continue
        minute = int(at // 60)
        if minute not in buckets or value > buckets[minute][1]:
            buckets[minute] = (minute * 60.0, value)
    return [buckets[m] for m in sorted(buckets)]


def panel(
    name: str, top: float, times: Sequence[float], samples: Sequence[Signals], t: Thresholds
) -> list[str]:
    """One signal's panel: its trace, its threshold and its recovery level."""
    span, limit = times[-1] + (times[1] - times[0] if len(times) > 1 else 1), t.limit(name)

    def y_of(ratio: float) -> float:
        return top + PANEL * (1 - min(ratio, CEILING) / CEILING)

    points = by_minute(times, [s.value(name) for s in samples])
    path = " ".join(f"{x_of(at, span):.1f},{y_of(v / limit):.1f}" for at, v in points)
    right = WIDTH - RIGHT
    return [
        f'<rect x="{LEFT}" y="{top}" width="{right - LEFT}" height="{PANEL}" class="panel"/>',
        f'<line x1="{LEFT}" x2="{right}" y1="{y_of(1):.1f}" y2="{y_of(1):.1f}" class="limit"/>',
        f'<line x1="{LEFT}" x2="{right}" y1="{y_of(t.recovery_ratio):.1f}" '
        f'y2="{y_of(t.recovery_ratio):.1f}" class="recovery"/>',
        f'<polyline points="{path}" fill="none" stroke="{COLOURS[name]}" stroke-width="1"/>',
        f'<text x="{LEFT - 8}" y="{top + PANEL / 2:.1f}" class="label">'
        f"{escape(LABELS[name])}</text>",
        f'<text x="{LEFT - 8}" y="{top + PANEL / 2 + 13:.1f}" class="small">'
        f"threshold {limit:g}</text>",
    ]


def strip(label: str, top: float, times: Sequence[float], modes: Sequence[str]) -> list[str]:
    """A mode timeline: filled where the mode was queue."""
    step = times[1] - times[0] if len(times) > 1 else 1
    span = times[-1] + step
    parts = [
        f'<rect x="{LEFT}" y="{top}" width="{WIDTH - RIGHT - LEFT}" height="{STRIP}" '
        'class="single"/>',
        f'<text x="{LEFT - 8}" y="{top + STRIP - 5}" class="label">{escape(label)}</text>',
    ]
    start = None
    for at, mode in zip([*times, span], [*modes, "end"], strict=True):
        if mode == QUEUE and start is None:
            start = at
        elif mode != QUEUE and start is not None:
            x0, x1 = x_of(start, span), x_of(at, span)
            parts.append(
                f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="{STRIP}" class="queue"/>'
            )
            start = None
    return parts


def axis(top: float, span: float) -> list[str]:
    """Hour ticks under the timelines."""
    parts = []
    for hour in range(0, int(span // 3600) + 1, 2):
        x = x_of(hour * 3600, span)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{top}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + 14}" class="tick">{hour:02d}:00</text>')
    return parts


STYLE = """<style>
.panel{fill:#fafafa;stroke:#ccc}.limit{stroke:#d62728;stroke-dasharray:4 3}
.recovery{stroke:#999;stroke-dasharray:2 3}.grid{stroke:#eee}
.single{fill:#e8f0fe;stroke:#ccc}.queue{fill:#d62728;opacity:.75}.outage{fill:#000;opacity:.12}
text{font-family:sans-serif;font-size:12px}.label{text-anchor:end}.small{text-anchor:end;
font-size:10px;fill:#666}.tick{text-anchor:middle;font-size:10px;fill:#666}
.title{font-size:14px;font-weight:bold}
</style>"""


def day_svg(
    times: Sequence[float],
    samples: Sequence[Signals],
    thresholds: Thresholds,
    timelines: dict[str, Sequence[str]],
    outage: tuple[float, float] | None,
    title: str,
) -> str:
    """The whole picture as SVG text."""
    step = times[1] - times[0] if len(times) > 1 else 1
    span = times[-1] + step
    bottom = TOP + len(SIGNAL_NAMES) * (PANEL + GAP) + len(timelines) * (STRIP + 6)
    height = bottom + 30
    body = [
        f'<text x="{LEFT}" y="22" class="title">{escape(title)}</text>',
        *axis(bottom, span),
    ]
    for index, name in enumerate(SIGNAL_NAMES):
        body += panel(name, TOP + index * (PANEL + GAP), times, samples, thresholds)
    top = TOP + len(SIGNAL_NAMES) * (PANEL + GAP)
    for label, modes in timelines.items():
        body += strip(label, top, times, modes)
        top += STRIP + 6
    if outage is not None:
        x0, x1 = x_of(outage[0], span), x_of(outage[1], span)
        body.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" height="{bottom - TOP}" '
            'class="outage"><title>n8n outage</title></rect>'
        )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">'
    )
    return "\n".join([head, STYLE, *body, "</svg>"]) + "\n"
