"""Day: 24 h of load replayed in compressed time through the real monitor, controller and
stores (Redis), with the naive controller (threshold only) beside it on the same samples.

The samples are synthetic (sidecar/bench/day_trace.py: diurnal curve, bursts, noise around
each threshold, memory creep, an n8n outage): a simulated clock drives `Monitor.tick()` with
a sampler that returns them, so the real `ModeStore`, controller state in Redis, evaluator
path, alerts and drained-queue rule run, but no webhook is sent — lost and duplicated
webhooks are measured by the `switch` scenario, not here. Thresholds are the production
defaults (500/h, 30 s, 80 %, 0.5 s lag; sustain 300 s, cool-down 1800 s, every 15 s).

Required: no flapping (never two switches within the cool-down) and every sustained
crossing met in single mode answered by a switch within one monitor interval. The trace
and both mode timelines are drawn to docs/img/day.svg (a full run; --smoke draws into the
run's temporary directory).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.alerts import Alerter
from sidecar.backend.keys import keys_for
from sidecar.bench.context import ROOT, Bench
from sidecar.bench.day_figures import (
    NaiveController,
    answer_delays,
    shortest_gap,
    sustained_crossings,
    switch_times,
    time_in,
)
from sidecar.bench.day_svg import day_svg
from sidecar.bench.day_trace import DAY_SECONDS, OUTAGE, Sample, day_trace
from sidecar.bench.report import Outcome, Row
from sidecar.mode.controller import QUEUE, Signals, Thresholds
from sidecar.mode.latency import LatencyReservoir
from sidecar.mode.lock import LocalLock
from sidecar.mode.monitor import Monitor
from sidecar.mode.rate import RateCounter
from sidecar.mode.store import ModeStore
from sidecar.settings import load_settings

MIDNIGHT = 1_793_577_600.0  # 2026-11-02T00:00:00Z: the simulated day
INTERVAL_SECONDS = 15.0
SMOKE_INTERVAL_SECONDS = 60.0  # fewer ticks; sustain and cool-down keep their meaning
PICTURE = ROOT / "docs" / "img" / "day.svg"


class SimClock:
    """Simulated unix time, moved by the replay."""

    def __init__(self) -> None:
        self.now = MIDNIGHT

    def __call__(self) -> float:
        return self.now


class TraceSampler:
    """Stands in for SignalSampler: hands the monitor the current simulated sample."""

    def __init__(self, clock: SimClock) -> None:
        self.rate, self.latency = RateCounter(clock), LatencyReservoir(clock)
        self.current = Signals()

    def sample(self) -> Signals:
        return self.current

    def errors(self) -> dict[str, str]:
        return {}


def counting(emit: Callable[..., bool], counts: dict[str, int]) -> Callable[..., bool]:
    """`emit` that also counts the alerts raised, by kind."""

    def emit_and_count(alert: Any, subject: str = "") -> bool:
        raised = emit(alert, subject)
        if raised:
            counts[alert.kind] = counts.get(alert.kind, 0) + 1
        return raised

    return emit_and_count


def build_monitor(bench: Bench, clock: SimClock, interval: float) -> tuple[Monitor, dict]:
    """The real monitor on the benchmark's Redis, on the simulated clock."""
    settings = load_settings(
        REDIS_URL=bench.redis_url,
        N8N_URL=bench.upstream.url,
        SIDECAR_QUEUE_PREFIX=bench.settings.queue_prefix,
        SIDECAR_MODE="auto",
        SIDECAR_MONITOR_INTERVAL_SECONDS=interval,
        SIDECAR_N8N_API_KEY="day-scenario",  # the execution signal is n8n's own: not blind
    )
    # No Redis for the alerter: its cross-process de-duplication keys expire in wall time,
    # which would hide repeats in compressed time; in process it follows the simulated clock.
    alerter = Alerter(None, None, settings.cooldown_seconds, clock=clock, keys=keys_for(settings))
    alerts: dict[str, int] = {}
    alerter.emit = counting(alerter.emit, alerts)  # type: ignore[method-assign]
    store = ModeStore(bench.client, keys_for(settings), clock=clock, configured="auto")
    sampler = TraceSampler(clock)
    monitor = Monitor(
        settings,
        bench.client,
        store=store,
        alerter=alerter,
        sampler=sampler,  # type: ignore[arg-type]
        lock=LocalLock(),
        clock=clock,
    )
    return monitor, alerts


def replay(bench: Bench, interval: float, wall_seconds: float) -> dict[str, Any]:
    """Feed every sample to the monitor and to the naive controller; paced to `wall_seconds`."""
    clock = SimClock()
    monitor, alerts = build_monitor(bench, clock, interval)
    naive = NaiveController(monitor.thresholds)
    samples: list[Sample] = list(day_trace(interval))
    real_modes, naive_modes = [], []
    health: dict[str, bool] = {"up": True}
    monitor.n8n_health = lambda: (health["up"], "n8n outage (simulated)")
    started = time.monotonic()
    with bench.progress.counting("simulated day", len(samples), "ticks") as counter:
        for index, sample in enumerate(samples):
            pace(started, index, len(samples), wall_seconds)
            clock.now, health["up"] = MIDNIGHT + sample.at, sample.n8n_up
            monitor.sampler.current = sample.signals  # type: ignore[attr-defined]
            tick = monitor.tick()
            real_modes.append(tick.view.mode if tick.view else real_modes[-1])
            naive_modes.append(naive.observe(sample.signals))
            counter.add()
    history = monitor.store.history()
    return {
        "samples": samples,
        "real": real_modes,
        "naive": naive_modes,
        "thresholds": monitor.thresholds,
        "alerts": alerts,
        "history_switches": sum(1 for h in history if h["by"] == "controller"),
        "wall_s": time.monotonic() - started,
    }


def pace(started: float, index: int, total: int, wall_seconds: float) -> None:
    """Sleep until tick `index` is due, spreading `total` ticks over `wall_seconds`."""
    if wall_seconds <= 0:
        return
    due = started + wall_seconds * index / total
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def judge(run: dict[str, Any], interval: float) -> dict[str, Any]:
    """The figures of both controllers."""
    times = [s.at for s in run["samples"]]
    signals = [s.signals for s in run["samples"]]
    t: Thresholds = run["thresholds"]
    crossings = sustained_crossings(times, signals, t)
    delays = answer_delays(crossings, times, run["real"])
    answered = [d for _, d in delays if d is not None]
    figures: dict[str, Any] = {
        "interval_s": interval,
        "ticks": len(times),
        "wall_s": round(run["wall_s"], 2),
        "compression": round(DAY_SECONDS / max(run["wall_s"], 1e-9)),
        "sustained_crossings": len(crossings),
        "crossings_met_in_single": len(delays),
        "answer_delays_s": [None if d is None else round(d, 3) for _, d in delays],
        "crossings": [
            {"signal": c.signal, "started": c.started, "sustained": c.sustained, "delay_s": d}
            for c, d in delays
        ],
        "alerts": run["alerts"],
        "history_switches": run["history_switches"],
    }
    for name in ("real", "naive"):
        modes = run[name]
        figures[name] = {
            "switches": len(switch_times(times, modes)),
            "queue_hours": round(time_in(times, modes, QUEUE, interval) / 3600, 2),
            "shortest_gap_s": shortest_gap(times, modes),
            "switch_times_h": [round(at / 3600, 3) for at, _ in switch_times(times, modes)],
        }
    figures["all_answered"] = len(answered) == len(delays) and all(d <= interval for d in answered)
    figures["max_delay_s"] = max(answered) if answered else None
    return figures


def draw(run: dict[str, Any], path: Path, interval: float) -> None:
    """The picture, written to `path`."""
    samples = run["samples"]
    svg = day_svg(
        [s.at for s in samples],
        [s.signals for s in samples],
        run["thresholds"],
        {"sidecar controller": run["real"], "naive (threshold only)": run["naive"]},
        OUTAGE,
        f"A simulated day: signals / threshold (red dashes) and mode (red: queue), "
        f"sampled every {interval:g} s",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg)


def gap_text(gap: float | None) -> str:
    return "-" if gap is None else f"{gap:,.0f} s"


def rows(f: dict[str, Any], cooldown: float) -> list[Row]:
    """The table rows: the controller beside the naive baseline."""
    real, naive = f["real"], f["naive"]
    gap = real["shortest_gap_s"]
    delays = [d for d in f["answer_delays_s"] if d is not None]
    return [
        Row("switches in 24 h", str(real["switches"]), f"naive: {naive['switches']}"),
        Row(
            "time in queue mode",
            f"{real['queue_hours']:.1f} h",
            f"naive: {naive['queue_hours']:.1f} h",
        ),
        Row(
            "shortest time between two switches (no flapping)",
            gap_text(gap),
            f"naive: {gap_text(naive['shortest_gap_s'])}",
            target=f">= cool-down {cooldown:g} s",
            met=gap is None or gap >= cooldown,
        ),
        Row(
            "sustained crossing to switch",
            f"{len(delays)}/{f['crossings_met_in_single']} answered, max "
            f"{gap_text(f['max_delay_s']) if delays else '-'}",
            f"{f['sustained_crossings']} sustained crossings, "
            f"{f['sustained_crossings'] - f['crossings_met_in_single']} while already queued",
            target=f"each <= one interval ({f['interval_s']:g} s)",
            met=f["all_answered"],
        ),
        Row(
            "switches in the store's history",
            str(f["history_switches"]),
            target="= switches (history keeps 50)",
            met=f["history_switches"] == min(real["switches"], 50),
        ),
        Row(
            "webhooks lost / duplicated",
            "n/a: synthetic signal samples, no webhooks (see the switch scenario)",
        ),
        Row(
            "replay",
            f"{f['ticks']:,} ticks in {f['wall_s']:.1f} s (x{f['compression']:,})",
            f"alerts: {', '.join(f'{k} {v}' for k, v in sorted(f['alerts'].items())) or '-'}",
        ),
    ]


def run(bench: Bench) -> Outcome:
    """The scenario."""
    smoke = bench.options.smoke
    interval = SMOKE_INTERVAL_SECONDS if smoke else INTERVAL_SECONDS
    played = replay(bench, interval, 0.0 if smoke else bench.options.day_seconds)
    figures = judge(played, interval)
    path = bench.procs.logdir / "day.svg" if smoke else PICTURE
    draw(played, path, interval)
    figures["picture"] = str(path)
    bench.progress.say(f"day: picture written to {path}")
    return Outcome("day", rows(figures, played["thresholds"].cooldown_seconds), figures)
