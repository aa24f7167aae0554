"""What the `day` scenario judges, from the samples and the modes each controller chose.

* `NaiveController`: the baseline — queue while any observed signal is over its threshold,
  single as soon as none is: no sustain, no cool-down, no hysteresis.
* `sustained_crossings()`: when each signal had been over its threshold for the sustain
  period (a sample over restarts nothing; a missing sample, like the controller's failed
  source, breaks nothing; a sample at or under ends the run).
* `answer_delays()`: for each sustained crossing met in single mode, the time to the
  switch to queue mode (None: never switched).
* `switches()`, `time_in()`, `shortest_gap()`: the mode timeline's figures.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.mode.controller import QUEUE, SIGNAL_NAMES, SINGLE, Signals, Thresholds


class NaiveController:
    """Threshold only: queue when any observed signal is over, single when none is."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds, self.mode = thresholds, SINGLE

    def observe(self, signals: Signals) -> str:
        """The mode after this sample."""
        seen = {n: signals.value(n) for n in SIGNAL_NAMES if signals.value(n) is not None}
        if seen:
            hot = any(value > self.thresholds.limit(n) for n, value in seen.items())
            self.mode = QUEUE if hot else SINGLE
        return self.mode


@dataclass(frozen=True)
class Crossing:
    """`signal` had been over its threshold from `started` until `sustained` (sustain later)."""

    signal: str
    started: float
    sustained: float


def sustained_crossings(
    times: Sequence[float], samples: Sequence[Signals], thresholds: Thresholds
) -> list[Crossing]:
    """Every sustained crossing, in time order (one per unbroken run over the threshold)."""
    found = []
    for name in SIGNAL_NAMES:
        since, reported = None, False
        for at, sample in zip(times, samples, strict=True):
            value = sample.value(name)
            if value is None:
                continue
            if value <= thresholds.limit(name):
                since, reported = None, False
                continue
            since = at if since is None else since
            if not reported and at - since >= thresholds.sustain_seconds:
                found.append(Crossing(name, since, at))
                reported = True
    return sorted(found, key=lambda c: c.sustained)


def mode_at(times: Sequence[float], modes: Sequence[str], at: float) -> str:
    """The mode chosen by the last sample at or before `at` (single before the first)."""
    current = SINGLE
    for when, mode in zip(times, modes, strict=True):
        if when > at:
            break
        current = mode
    return current


def switch_times(times: Sequence[float], modes: Sequence[str]) -> list[tuple[float, str]]:
    """(time, new mode) of every change of mode."""
    changes, previous = [], SINGLE
    for at, mode in zip(times, modes, strict=True):
        if mode != previous:
            changes.append((at, mode))
        previous = mode
    return changes


def answer_delays(
    crossings: Sequence[Crossing], times: Sequence[float], modes: Sequence[str]
) -> list[tuple[Crossing, float | None]]:
    """Each crossing met in single mode, and the delay to the next switch to queue mode."""
    result = []
    to_queue = [at for at, mode in switch_times(times, modes) if mode == QUEUE]
    for crossing in crossings:
        before = mode_at(times, modes, crossing.sustained - 1e-9)
        if before != SINGLE:
            continue
        later = [at for at in to_queue if at >= crossing.sustained]
        result.append((crossing, later[0] - crossing.sustained if later else None))
    return result


def time_in(times: Sequence[float], modes: Sequence[str], mode: str, step: float) -> float:
    """Seconds spent in `mode` (each sample's mode holds for one step)."""
    return step * sum(1 for m in modes if m == mode)


def shortest_gap(times: Sequence[float], modes: Sequence[str]) -> float | None:
    """The shortest time between two switches; None with fewer than two."""
    moments = [at for at, _ in switch_times(times, modes)]
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    return min(gaps) if gaps else None
