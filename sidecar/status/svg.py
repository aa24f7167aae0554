"""Server-rendered SVG for `/status`: line charts with reference lines, and mode timelines.

No script and no style attribute (the page's Content-Security-Policy allows neither): every
colour comes from a CSS class of the page. Each chart carries its scale as data attributes
(`data-x-start`, `data-x-end`, `data-y-max`, plot box `data-plot`), so a test can turn the
polyline's points back into the values that were drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 10, 24
MAX_POINTS = 1000


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (threshold, recovery level)."""

    value: float
    label: str
    css: str


@dataclass(frozen=True)
class Band:
    """A shaded time span (a sustain or cool-down window)."""

    start: float
    end: float
    label: str
    css: str


@dataclass
class Chart:
    """One time chart: `series` maps a CSS class to its (at, value) points."""

    name: str
    title: str
    start: float
    end: float
    series: dict[str, list[tuple[float, float]]]
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    unit: str = ""

    def y_max(self) -> float:
        """The top of the scale: above every value and reference line, never zero."""
        values = [v for points in self.series.values() for _, v in points]
        values += [line.value for line in self.lines]
        return nice_ceiling(max(values, default=0.0) * 1.1)


def nice_ceiling(value: float) -> float:
    """A round number at least `value` (1, 1.2, 1.5, 2 … 8 x 10^n); 1 for zero or less."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** _exponent(value)
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _exponent(value: float) -> int:
    exponent = 0
    while 10 ** (exponent + 1) < value:
        exponent += 1
    while 10**exponent > value:
        exponent -= 1
    return exponent


def downsample(points: list[tuple[float, float]], buckets: int) -> list[tuple[float, float]]:
    """At most `buckets` points: the largest value of each equal time slice (peaks survive)."""
    if len(points) <= buckets:
        return points
    first, last = points[0][0], points[-1][0]
    size = (last - first) / buckets or 1.0
    kept: dict[int, tuple[float, float]] = {}
    for at, value in points:
        slot = min(int((at - first) / size), buckets - 1)
        if slot not in kept or value > kept[slot][1]:
            kept[slot] = (at, value)
    return [kept[slot] for slot in sorted(kept)]


class Scale:
    """Maps (time, value) to SVG coordinates inside the plot box."""

    def __init__(self, start: float, end: float, y_max: float) -> None:
        self.start, self.span = start, max(end - start, 1.0)
        self.y_max = y_max
        self.width, self.height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, at: float) -> float:
        """Horizontal position of `at` (clamped to the plot)."""
        share = min(max((at - self.start) / self.span, 0.0), 1.0)
        return round(LEFT + share * self.width, 2)

    def y(self, value: float) -> float:
        """Vertical position of `value`."""
        return round(TOP + (1 - min(value / self.y_max, 1.0)) * self.height, 2)


def clock_label(at: float, span: float) -> str:
    """A time label: HH:MM for a day or less, 'Mon 12' style dates beyond."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%H:%M") if span <= 86400 else moment.strftime("%a %d %H:%M")


def number(value: float) -> str:
    """A compact number for labels."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def render_chart(chart: Chart) -> Markup:
    """The chart as an inline <svg>."""
    y_max = chart.y_max()
    scale = Scale(chart.start, chart.end, y_max)
    parts = [_frame(chart, scale)]
    parts += [_band(band, scale) for band in chart.bands]
    parts += [_line(line, scale) for line in chart.lines]
    for css, points in chart.series.items():
        parts.append(_polyline(chart.name, css, downsample(points, MAX_POINTS), scale))
    parts.append(_axes(chart, scale))
    attributes = {
        "class": "chart",
        "viewBox": f"0 0 {WIDTH} {HEIGHT}",
        "role": "img",
        "aria-label": chart.title,
        "data-chart": chart.name,
        "data-x-start": f"{chart.start:.0f}",
        "data-x-end": f"{chart.end:.0f}",
        "data-y-max": f"{y_max:g}",
        "data-plot": f"{LEFT} {TOP} {scale.width} {scale.height}",
    }
    return Markup(f"<svg {_attrs(attributes)}>{''.join(parts)}</svg>")


def _attrs(attributes: dict[str, str]) -> str:
    return " ".join(f'{key}="{escape(value)}"' for key, value in attributes.items())


def _frame(chart: Chart, scale: Scale) -> str:
    title = f"<title>{escape(chart.title)}</title>"
    box = f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{scale.width}" height="{scale.height}"/>'
    return title + box


def _band(band: Band, scale: Scale) -> str:
    x0, x1 = scale.x(band.start), scale.x(band.end)
    return (
        f'<rect class="band {escape(band.css)}" x="{x0}" y="{TOP}" width="{max(x1 - x0, 1)}" '
        f'height="{scale.height}"><title>{escape(band.label)}</title></rect>'
    )


def _line(line: Line, scale: Scale) -> str:
    y = scale.y(line.value)
    text = f"{line.label} {number(line.value)}"
    below = line.css == "recovery"  # the recovery label under its line, the threshold's above
    label_y = y + 13 if below else y - 4
    return (
        f'<line class="ref {escape(line.css)}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{y}" y2="{y}" data-value="{line.value:g}"/>'
        f'<text class="ref-label {escape(line.css)}" x="{LEFT + 4}" y="{label_y}">'
        f"{escape(text)}</text>"
    )


def _polyline(name: str, css: str, points: list[tuple[float, float]], scale: Scale) -> str:
    coordinates = " ".join(f"{scale.x(at)},{scale.y(value)}" for at, value in points)
    return (
        f'<polyline class="series {escape(css)}" data-series="{escape(name)}:{escape(css)}" '
        f'data-count="{len(points)}" points="{coordinates}"/>'
    )


def _axes(chart: Chart, scale: Scale) -> str:
    y_max, span = scale.y_max, chart.end - chart.start
    bottom = HEIGHT - BOTTOM
    return (
        f'<text class="axis" x="{LEFT - 4}" y="{TOP + 9}" text-anchor="end">'
        f"{escape(number(y_max))}</text>"
        f'<text class="axis" x="{LEFT - 4}" y="{bottom}" text-anchor="end">0</text>'
        f'<text class="axis" x="{LEFT}" y="{HEIGHT - 6}">{clock_label(chart.start, span)}</text>'
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{clock_label(chart.end, span)} UTC</text>"
    )


@dataclass(frozen=True)
class Segment:
    """A stretch of time spent in one mode."""

    start: float
    end: float
    mode: str


def segments(
    points: Sequence[tuple[float, float]], end: float, gap: float = 300.0
) -> list[Segment]:
    """Mode stretches from (at, 1=queue / 0=single) points; a hole over `gap` s is unknown."""
    found: list[Segment] = []
    for index, (at, value) in enumerate(points):
        mode = "queue" if value >= 0.5 else "single"
        following = points[index + 1][0] if index + 1 < len(points) else end
        stop = min(following, at + gap) if following - at > gap else following
        if found and found[-1].mode == mode and found[-1].end >= at:
            found[-1] = Segment(found[-1].start, stop, mode)
        else:
            found.append(Segment(at, stop, mode))
    return found


def render_timeline(name: str, start: float, end: float, stretches: list[Segment]) -> Markup:
    """A mode timeline bar from `start` to `end`."""
    height, bar = 46, 24
    scale = Scale(start, end, 1.0)
    parts = [
        f"<title>mode timeline {escape(name)}</title>",
        f'<rect class="plot" x="{LEFT}" y="4" width="{scale.width}" height="{bar}"/>',
    ]
    for stretch in stretches:
        x0, x1 = scale.x(stretch.start), scale.x(stretch.end)
        if x1 <= x0:
            continue
        label = f"{stretch.mode} {clock_label(stretch.start, 0)} to {clock_label(stretch.end, 0)}"
        parts.append(
            f'<rect class="mode-{stretch.mode}" data-mode="{stretch.mode}" x="{x0}" y="4" '
            f'width="{round(x1 - x0, 2)}" height="{bar}"><title>{escape(label)}</title></rect>'
        )
    span = end - start
    parts.append(
        f'<text class="axis" x="{LEFT}" y="{height - 4}">{clock_label(start, span)}</text>'
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{height - 4}" text-anchor="end">'
        f"{clock_label(end, span)} UTC</text>"
    )
    attributes = {
        "class": "timeline",
        "viewBox": f"0 0 {WIDTH} {height}",
        "role": "img",
        "aria-label": f"mode timeline, {name}",
        "data-timeline": name,
    }
    return Markup(f"<svg {_attrs(attributes)}>{''.join(parts)}</svg>")
