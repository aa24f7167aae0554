"""n8n down (connections refused, as while it restarts) for `n8n_down_s` under load: the
workers' n8n circuit opens and holds every job without spending an attempt, a probe finds
n8n ready again, and the backlog drains at a ramped pace. Required: nothing lost and
nothing dead-lettered; the recovery time is n8n back to every accepted webhook delivered."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, count, delivered
from sidecar.bench.faults.parts import SENDERS, Sizes, queue_gateway, sleep_until, start_workers
from sidecar.mode.backlog import dead_letter_size

REQUIREMENT = "0 lost, 0 dead-lettered"


def run(bench: Bench, sizes: Sizes) -> Figures:
    """n8n goes down one second into the load and comes back `n8n_down_s` later."""
    bench.upstream.require_node("the n8n-down fault")
    gateway = queue_gateway(bench)
    workers = start_workers(bench, bench.options.workers, bench.client)
    load = FaultLoad([gateway.port], sizes.rate, sizes.n8n_down_s + sizes.around_s, SENDERS)
    load.start()
    try:
        sleep_until(load.started_at, 1.0)
        bench.upstream.go_down(sizes.n8n_down_s)
        back = time.time() + sizes.n8n_down_s
        outcomes = load.wait()
        sleep_until(back, 0)
        seen, done, duplicates = delivered(bench, outcomes, sizes.drain_s)
        dead = dead_letter_size(bench.client, bench.settings.queue_prefix)
    finally:
        bench.procs.stop(gateway.proc, *workers)
    figures = count(
        Figures(f"n8n down {sizes.n8n_down_s:g} s", REQUIREMENT), outcomes, seen, duplicates
    )
    figures.extra = {"dead_lettered": dead}
    figures.recovery_s = done - back if figures.lost == 0 else None
    figures.met = figures.lost == 0 and dead == 0
    figures.notes += [
        f"{dead} dead-lettered (the circuit holds jobs while n8n refuses connections)",
        "recovery: n8n back to every accepted webhook delivered (none: some never were)",
    ]
    return figures
