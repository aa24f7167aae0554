"""What `/status` shows, gathered from the stores: mode, history charts, queues, dead letters,
workers and alerts. Each section fails soft: with Redis down the page still renders, with the
section saying why it is empty.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for
from sidecar.backend.queue_names import all_queues
from sidecar.errors import BackendUnavailable
from sidecar.http.state import SidecarState
from sidecar.mode.controller import SIGNAL_NAMES, ControllerState, Thresholds
from sidecar.mode.history import (
    QUEUE_FIELDS,
    SIGNAL_FIELDS,
    SIGNALS_SERIES,
    History,
    Row,
    column,
    queue_series,
)
from sidecar.mode.report import mode_report
from sidecar.queues import deadletters
from sidecar.queues.overview import queue_counts
from sidecar.status.svg import Band, Chart, Line, render_chart, render_timeline, segments
from sidecar.worker.registry import live_worker_count
from sidecar.worker.report import delivery_status

log = logging.getLogger("sidecar.status")

WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
TIMELINES = ("24h", "7d")
DEFAULT_WINDOW = "6h"
SIGNAL_TITLES = {
    "webhooks_per_hour": ("Webhooks per hour", "/h"),
    "exec_p95_seconds": ("Execution time p95", "s"),
    "memory_percent": ("Memory in use", "%"),
    "eventloop_lag_seconds": ("n8n event-loop lag p99", "s"),
}
ALERTS_SHOWN = 10
REASON_LENGTH = 100


@dataclass
class StatusPage:
    """Everything the template needs; `problems` lists sections that could not be read."""

    report: dict[str, Any]
    window: str
    now: float
    timelines: dict[str, Any] = field(default_factory=dict)
    charts: list[Any] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: dict[str, Any] | None = None
    workers: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    n8n_protection: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def gather(state: SidecarState, now: float, window: str) -> StatusPage:
    """The page's content at `now` for the chart window `window` ('24h' or '7d')."""
    thresholds = Thresholds.from_settings(state.settings)
    page = StatusPage(mode_report(state.store, thresholds), window, now)
    client = state.intake.client if state.intake else None
    if client is None:
        page.problems.append("no Redis configured: no history, queues or dead letters")
        return page
    sections = (_history, _queues, _dead_letters, _workers, _alerts, _n8n_protection)
    for section in sections:
        try:
            section(page, state, client, thresholds)
        except (BackendUnavailable, redis.RedisError) as exc:
            page.problems.append(f"{section.__name__.strip('_').replace('_', ' ')}: {exc}")
    return page


def _n8n_protection(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    """The workers' n8n circuit breaker and their pace, as `status` shows them."""
    view = delivery_status(client, keys_for(state.settings))
    page.n8n_protection = {
        "circuit": {key: view[key] for key in ("circuit", "outageSeconds", "reason")},
        "pace": {"in flight at most": view["pace"], "refused (queue full)": view["backlogFull"]},
    }


def _history(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    """Mode timelines (24 h and 7 d) and one chart per signal over the chosen window."""
    history = History(client, keys_for(state.settings))
    rows = history.rows(SIGNALS_SERIES, page.now - WINDOWS["7d"])
    modes = column(rows, SIGNAL_FIELDS, "mode")
    for name in TIMELINES:
        start = page.now - WINDOWS[name]
        shown = [(at, v) for at, v in modes if at >= start]
        page.timelines[name] = render_timeline(name, start, page.now, segments(shown, page.now))
    start = page.now - WINDOWS[page.window]
    windows = _windows(modes, thresholds, state.store.controller_state(), page.now)
    for name in SIGNAL_NAMES:
        page.charts.append(_signal_chart(name, rows, start, page.now, thresholds, windows))


def _signal_chart(
    name: str,
    rows: list[Row],
    start: float,
    now: float,
    thresholds: Thresholds,
    windows: list[Band],
) -> dict[str, Any]:
    """One signal's chart: its line, the threshold and recovery lines, the windows."""
    title, unit = SIGNAL_TITLES[name]
    points = [(at, v) for at, v in column(rows, SIGNAL_FIELDS, name) if at >= start]
    chart = Chart(
        name=name,
        title=f"{title} ({unit})",
        start=start,
        end=now,
        series={"signal": points},
        lines=[
            Line(thresholds.limit(name), "threshold", "threshold"),
            Line(thresholds.recovery_limit(name), "recovery", "recovery"),
        ],
        bands=[band for band in windows if band.end >= start],
        unit=unit,
    )
    return {"name": name, "title": chart.title, "svg": render_chart(chart), "count": len(points)}


def _windows(
    modes: list[tuple[float, float]],
    thresholds: Thresholds,
    controller: ControllerState | None,
    now: float,
) -> list[Band]:
    """The sustain window before each switch to queue, the cool-down window before each
    switch back, and the timers running now."""
    bands = []
    for (_, before), (at, after) in pairwise(modes):
        if before < 0.5 <= after:
            bands.append(_band(at - thresholds.sustain_seconds, at, "sustain"))
        elif after < 0.5 <= before:
            bands.append(_band(at - thresholds.cooldown_seconds, at, "cool-down"))
    if controller is None:
        return bands
    for track in controller.tracks.values():
        if controller.mode == "single" and track.over_since:
            bands.append(_band(track.over_since, now, "sustain", running=True))
        if controller.mode == "queue" and track.under_since:
            bands.append(_band(track.under_since, now, "cool-down", running=True))
    return bands


def _band(start: float, end: float, kind: str, running: bool = False) -> Band:
    state = "running" if running else "before the switch"
    css = "sustain" if kind == "sustain" else "cooldown"
    return Band(start, end, f"{kind} window ({state})", css + (" running" if running else ""))


def _queues(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    """Per queue: counts now, and depth / throughput charts when it has history."""
    names = all_queues(state.settings.queue_prefix)
    counts = queue_counts(client, names)
    start = page.now - WINDOWS[page.window]
    history = History(client, keys_for(state.settings))
    series = history.many([queue_series(q) for q in names], start)
    for queue in names:
        rows = series[queue_series(queue)]
        entry: dict[str, Any] = {"name": queue, **counts[queue], "charts": []}
        if rows:
            entry["charts"] = _queue_charts(queue, rows, start, page.now)
        page.queues.append(entry)


def _queue_charts(queue: str, rows: list[Row], start: float, now: float) -> list[Any]:
    """Depth, and processed / failed per minute."""
    depth = Chart(
        f"{queue}:depth", f"{queue}: depth (waiting)", start, now,
        {"depth": column(rows, QUEUE_FIELDS, "depth")},
    )  # fmt: skip
    throughput = Chart(
        f"{queue}:throughput",
        f"{queue}: processed and failed per minute",
        start,
        now,
        {
            "processed": column(rows, QUEUE_FIELDS, "processed"),
            "failed": column(rows, QUEUE_FIELDS, "failed"),
        },
    )
    return [("depth (waiting)", render_chart(depth)), ("per minute", render_chart(throughput))]


REASONS_SAMPLE = 500  # the newest entries whose reasons are grouped


def reason(error: str) -> str:
    """The group a dead letter's error falls in: its first line, shortened."""
    first = (error or "unknown").strip().splitlines()[0] if error.strip() else "unknown"
    return first[:REASON_LENGTH]


def _dead_letters(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    """Count, newest entries, and the reasons of the newest REASONS_SAMPLE grouped
    (summaries only, never payloads)."""
    entries, total = deadletters.newest_entries(client, state.settings, REASONS_SAMPLE)
    summaries = [entry.summary() for entry in entries]
    grouped = Counter(reason(s.get("error", "")) for s in summaries)
    page.dead_letters = {
        "total": total,
        "newest": summaries[:5],
        "reasons": grouped.most_common(10),
    }


def _workers(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    page.workers = live_worker_count(client, keys_for(state.settings))


def _alerts(
    page: StatusPage, state: SidecarState, client: redis.Redis, thresholds: Thresholds
) -> None:
    """The newest alerts from the event stream."""
    with translate():
        rows = client.xrevrange(keys_for(state.settings).events, count=500)
    for _, fields in rows:
        if fields.get(b"type") == b"alert":
            page.alerts.append(json.loads(fields.get(b"data", b"{}")))
        if len(page.alerts) >= ALERTS_SHOWN:
            break
