"""The `day` bench scenario's parts: the synthetic trace, the judging, the picture."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sidecar.bench.day_figures import (
    NaiveController,
    answer_delays,
    shortest_gap,
    sustained_crossings,
    switch_times,
    time_in,
)
from sidecar.bench.day_svg import day_svg
from sidecar.bench.day_trace import OUTAGE, day_trace
from sidecar.mode.controller import Controller, Signals, Thresholds

LIMITS = Thresholds()  # 500/h, 30 s, 80 %, 0.5 s; sustain 300 s, cool-down 1800 s
STEP = 60.0


def rate(value: float | None) -> Signals:
    return Signals(webhooks_per_hour=value)


def test_the_trace_is_deterministic_and_holds_the_day_s_features() -> None:
    first, again = list(day_trace(STEP)), list(day_trace(STEP))
    assert first == again and len(first) == 24 * 60
    down = [s for s in first if not s.n8n_up]
    assert down and all(OUTAGE[0] <= s.at < OUTAGE[1] for s in down)
    assert all(s.signals.memory_percent is None for s in down)
    assert all(s.signals.webhooks_per_hour is not None for s in down)  # counted by the gateways
    for name in ("webhooks_per_hour", "exec_p95_seconds", "memory_percent"):
        values = [s.signals.value(name) for s in first if s.signals.value(name) is not None]
        assert max(values) > LIMITS.limit(name) > min(values), name
    lag = [s.signals.eventloop_lag_seconds for s in first if 15.5 * 3600 <= s.at < 16 * 3600]
    assert min(lag) < LIMITS.eventloop_lag_seconds < max(lag)  # noise around the threshold


def test_sustained_crossings_need_an_unbroken_run_over_the_threshold() -> None:
    values = [600] * 4 + [500] + [600] * 6 + [None] + [600] * 2 + [100]
    times = [i * STEP for i in range(len(values))]
    samples = [rate(v) for v in values]

    crossings = sustained_crossings(times, samples, LIMITS)

    assert [(c.started, c.sustained) for c in crossings] == [(5 * STEP, 10 * STEP)]


def test_answer_delays_and_the_timeline_figures() -> None:
    times = [i * STEP for i in range(30)]
    samples = [rate(600)] * 10 + [rate(100)] * 20
    crossings = sustained_crossings(times, samples, LIMITS)
    late = ["single"] * 7 + ["queue"] * 23  # switched one tick after the sustained point

    [(crossing, delay)] = answer_delays(crossings, times, late)

    assert crossing.sustained == 5 * STEP and delay == 2 * STEP
    assert answer_delays(crossings, times, ["single"] * 30) == [(crossing, None)]
    assert answer_delays(crossings, times, ["queue"] * 30) == []  # already queued
    modes = ["single"] * 5 + ["queue"] * 10 + ["single"] * 2 + ["queue"] * 13
    assert switch_times(times, modes) == [
        (5 * STEP, "queue"),
        (15 * STEP, "single"),
        (17 * STEP, "queue"),
    ]
    assert shortest_gap(times, modes) == 2 * STEP
    assert time_in(times, modes, "queue", STEP) == 23 * STEP
    assert shortest_gap(times, ["single"] * 30) is None


def test_the_naive_controller_flaps_on_noise_the_controller_does_not() -> None:
    noise = [rate(520 if i % 2 else 480) for i in range(120)]
    times = [i * 15.0 for i in range(len(noise))]
    now = {"t": 0.0}
    controller = Controller(LIMITS, lambda: now["t"])
    naive = NaiveController(LIMITS)
    real_modes, naive_modes = [], []
    for at, sample in zip(times, noise, strict=True):
        now["t"] = at
        real_modes.append(controller.observe(sample).mode)
        naive_modes.append(naive.observe(sample))

    assert len(switch_times(times, naive_modes)) == len(noise) - 1
    assert switch_times(times, real_modes) == []
    assert naive.observe(Signals()) == naive_modes[-1]  # nothing observed: mode kept


def test_the_picture_is_svg_with_four_signals_and_both_timelines() -> None:
    samples = list(day_trace(STEP))[:240]
    times = [s.at for s in samples]
    modes = ["single"] * 100 + ["queue"] * 40 + ["single"] * 100

    svg = day_svg(
        times,
        [s.signals for s in samples],
        LIMITS,
        {"controller": modes, "naive": ["queue", "single"] * 120},
        (3600.0, 4500.0),
        "a <test> day",
    )

    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 4
    queue_bars = [r for r in root.findall(f"{ns}rect") if r.get("class") == "queue"]
    assert len(queue_bars) == 1 + 120
    assert "a &lt;test&gt; day" in svg
