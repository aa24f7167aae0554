"""The SVG pieces of /status: scales, downsampling, mode stretches."""

from __future__ import annotations

import re

from sidecar.status.svg import (
    Chart,
    Line,
    Segment,
    downsample,
    nice_ceiling,
    render_chart,
    segments,
)


def test_nice_ceiling_is_round_and_never_below_the_value() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 9, 990, 1023, 5500)] == [1, 0.8, 10, 1000, 1200, 6000]


def test_downsampling_is_bounded_and_keeps_the_peak() -> None:
    points = [(float(t), 1.0) for t in range(10_000)]
    points[4321] = (4321.0, 99.0)

    kept = downsample(points, 100)

    assert len(kept) <= 100 and (4321.0, 99.0) in kept
    assert downsample(points[:50], 100) == points[:50]


def test_mode_stretches_merge_and_a_long_hole_is_left_blank() -> None:
    points = [(0, 0), (60, 0), (120, 1), (180, 1), (2000, 0)]

    assert segments(points, end=2060, gap=300) == [
        Segment(0, 120, "single"),
        Segment(120, 480, "queue"),  # no sample between 180 and 2000: blank after the gap
        Segment(2000, 2060, "single"),
    ]


def test_a_chart_carries_its_scale_and_reference_lines() -> None:
    chart = Chart("rate", "rate", 0, 600, {"signal": [(0, 100), (300, 400), (600, 250)]})
    chart.lines = [Line(500, "threshold", "threshold"), Line(350, "recovery", "recovery")]

    svg = str(render_chart(chart))

    assert 'data-y-max="600"' in svg and 'data-value="500"' in svg and 'data-value="350"' in svg
    assert len(re.search(r'points="([^"]+)"', svg).group(1).split()) == 3
    assert "style=" not in svg and "<script" not in svg  # nothing the CSP would block
