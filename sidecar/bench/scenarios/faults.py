"""Faults under steady load (`bench -s faults`, about 5 minutes; `--smoke`: seconds): for
each, accepted, delivered, lost, duplicated, refused (told to retry), and recovery time.
`--fault NAME` (repeatable) runs only those. See docs/reliability.md for the figures."""

from __future__ import annotations

import importlib
from dataclasses import asdict

from sidecar.bench.context import Bench
from sidecar.bench.faults.figures import Figures
from sidecar.bench.faults.parts import Sizes
from sidecar.bench.options import FAULTS
from sidecar.bench.report import Outcome, Row


def row(figures: Figures) -> Row:
    """One table row per fault."""
    value = (
        f"accepted {figures.accepted} ({figures.queued} queued, {figures.passed_through} "
        f"passed through), delivered {figures.delivered}, lost {figures.lost}, duplicated "
        f"{figures.duplicated}, refused {figures.refused}, no answer {figures.no_answer}"
    )
    recovery = "" if figures.recovery_s is None else f"recovery {figures.recovery_s:.2f} s"
    return Row(figures.fault, value, recovery, target=figures.requirement, met=figures.met)


def run(bench: Bench) -> Outcome:
    """Every chosen fault in turn, each on an emptied Redis and upstream score."""
    sizes = Sizes.smoke() if bench.options.smoke else Sizes()  # 100 webhooks/s
    chosen = bench.options.faults or FAULTS
    results: list[Figures] = []
    for name in chosen:
        bench.progress.say(f"fault: {name}")
        bench.reset()
        module = importlib.import_module(f"sidecar.bench.faults.{name}")
        found = module.run(bench, sizes)
        results += found if isinstance(found, list) else [found]
    for figures in results:
        for note in figures.notes:
            bench.progress.say(f"  {figures.fault}: {note}")
    figures = {"sizes": asdict(sizes), "faults": [asdict(f) for f in results]}
    return Outcome("faults", [row(f) for f in results], figures)
