"""A synthetic day of signal samples for the `day` scenario (deterministic for a seed).

What the 24 h hold, in simulated time (thresholds: ADR-001's defaults and 0.5 s lag):

* webhooks per hour — a rolling one-hour count of Poisson arrivals on a diurnal curve
  (80/h at night, a plateau hovering around 500/h in the early afternoon), with a burst of
  250 webhooks in 3 minutes at 09:30 and a brief one of 60 in 2 minutes at 17:00;
* execution p95 (n8n API) — a few seconds, noise hovering around 30 s from 11:00 to 12:00,
  a slow spell at 45 s from 07:00 to 07:40 (a morning batch);
* memory — creeping from 30 % by 2.5 %/h with ±1.5 % noise, through 80 % around 20:00;
* event-loop lag (p99) — 15-60 ms, noise hovering around 0.5 s from 15:30 to 16:00, 0.2 s
  during the 09:30 burst;
* an n8n outage from 21:00 to 21:15: n8n's sources (API, /metrics) give nothing; n8n
  restarts with its memory back at 40 %.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from sidecar.mode.controller import Signals

DAY_SECONDS = 24 * 3600
HOUR = 3600.0
OUTAGE = (21 * HOUR, 21 * HOUR + 15 * 60)
CREEP = 2.5  # memory %/h
BURSTS = ((9.5 * HOUR, 180.0, 250), (17 * HOUR, 120.0, 60))  # start, length, webhooks


@dataclass(frozen=True)
class Sample:
    """One monitor tick's worth of simulated signals; `at` in seconds since midnight."""

    at: float
    signals: Signals
    n8n_up: bool


def in_window(at: float, start_hour: float, end_hour: float) -> bool:
    """True when `at` lies in [start_hour, end_hour)."""
    return start_hour * HOUR <= at < end_hour * HOUR


def diurnal_per_hour(at: float) -> float:
    """The expected webhooks per hour at `at`: night, morning ramp, afternoon plateau."""
    hour = at / HOUR
    day = max(0.0, math.sin(math.pi * (hour - 6) / 16)) if 6 <= hour <= 22 else 0.0
    return 80 + 400 * day + (45 if 12.5 <= hour < 15 else 0)


def burst_arrivals(at: float, step: float) -> float:
    """Expected extra webhooks in the tick starting at `at` from the bursts."""
    extra = 0.0
    for start, length, count in BURSTS:
        if start <= at < start + length:
            extra += count * step / length
    return extra


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation above 30)."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def execution_p95(rng: random.Random, at: float, load: float) -> float:
    """n8n's p95 execution time (s)."""
    if in_window(at, 11, 12):
        return 30 + rng.uniform(-3, 3)
    if in_window(at, 7, 7 + 40 / 60):
        return 45 + rng.uniform(-2, 2)
    return 2 + 4 * load + rng.uniform(0, 1.5)


def memory_percent(rng: random.Random, at: float) -> float:
    """n8n's memory in use (%): a creep until the outage, fresh after the restart."""
    if at >= OUTAGE[1]:
        return 40 + (at - OUTAGE[1]) / HOUR * CREEP + rng.uniform(-1.5, 1.5)
    return 30 + at / HOUR * CREEP + rng.uniform(-1.5, 1.5)


def eventloop_lag(rng: random.Random, at: float, load: float) -> float:
    """n8n's p99 event-loop lag (s)."""
    if in_window(at, 15.5, 16):
        return 0.5 + rng.uniform(-0.08, 0.08)
    if BURSTS[0][0] <= at < BURSTS[0][0] + BURSTS[0][1]:
        return 0.2 + rng.uniform(0, 0.05)
    return 0.015 + 0.04 * load + rng.uniform(0, 0.01)


def day_trace(step: float, seed: int = 17, days: float = 1.0) -> Iterator[Sample]:
    """Samples every `step` seconds over `days` days."""
    rng = random.Random(seed)
    window: deque[int] = deque(maxlen=max(1, round(HOUR / step)))
    at = 0.0
    while at < DAY_SECONDS * days:
        expected = diurnal_per_hour(at) * step / HOUR + burst_arrivals(at, step)
        window.append(poisson(rng, expected))
        load = diurnal_per_hour(at) / 525
        up = not (OUTAGE[0] <= at < OUTAGE[1])
        yield Sample(
            at,
            Signals(
                webhooks_per_hour=float(sum(window)),
                exec_p95_seconds=execution_p95(rng, at, load) if up else None,
                memory_percent=memory_percent(rng, at) if up else None,
                eventloop_lag_seconds=eventloop_lag(rng, at, load) if up else None,
            ),
            up,
        )
        at += step
