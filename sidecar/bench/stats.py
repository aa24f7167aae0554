"""Summaries of samples: percentiles and rates."""

from __future__ import annotations

import math
import statistics


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (`fraction` 0.99 for p99); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds of latencies given in seconds."""
    return milliseconds_summary([s * 1000 for s in seconds])


def milliseconds_summary(ms: list[float]) -> dict[str, float]:
    """p50, p99 and max of latencies already in milliseconds."""
    return {
        "p50_ms": statistics.median(ms) if ms else math.nan,
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms) if ms else math.nan,
    }


def ratio(value: float, baseline: float) -> float:
    """value / baseline; NaN when the baseline is zero or missing."""
    return value / baseline if baseline else math.nan
