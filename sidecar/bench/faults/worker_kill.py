"""kill -9 a worker every `kill_every_s` seconds, `kills` times, during delivery; a
supervisor starts a new one at once. Jobs the killed worker held are found stalled (their
lock expired) and delivered again: 0 lost. A duplicate is a job n8n had answered before the
kill but whose success was not yet recorded: at-least-once delivery, counted here."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, accepted_seqs, count, wait_delivered
from sidecar.bench.faults.parts import (
    RECOVERY_SETTINGS,
    SENDERS,
    Sizes,
    kill9,
    queue_gateway,
    sleep_until,
    start_worker,
    start_workers,
)

REQUIREMENT = "0 lost; duplicates counted"


def run(bench: Bench, sizes: Sizes) -> Figures:
    """The kills under steady load, then the drain."""
    gateway = queue_gateway(bench, **RECOVERY_SETTINGS)
    workers = start_workers(bench, bench.options.workers, bench.client, **RECOVERY_SETTINGS)
    duration = sizes.kills * sizes.kill_every_s + sizes.around_s
    load = FaultLoad([gateway.port], sizes.rate, duration, SENDERS).start()
    last_kill = load.started_at
    try:
        for index in range(sizes.kills):
            sleep_until(load.started_at, 1.0 + index * sizes.kill_every_s)
            victim = workers.pop(0)
            kill9(victim)
            last_kill = time.time()
            workers.append(start_worker(bench, **RECOVERY_SETTINGS))
        outcomes = load.wait()
        seen, done = wait_delivered(bench, accepted_seqs(outcomes), sizes.drain_s)
        figures = count(Figures("worker kill -9", REQUIREMENT), outcomes, seen, _dups(bench))
    finally:
        bench.procs.stop(gateway.proc, *workers)
    figures.recovery_s = done - last_kill
    figures.met = figures.lost == 0
    figures.notes += [
        f"{sizes.kills} workers killed every {sizes.kill_every_s:g} s, each replaced at once",
        "recovery: last kill to last accepted webhook delivered (stalled jobs found after "
        f"SIDECAR_LOCK_SECONDS={RECOVERY_SETTINGS['SIDECAR_LOCK_SECONDS']} + "
        f"SIDECAR_STALLED_INTERVAL_SECONDS={RECOVERY_SETTINGS['SIDECAR_STALLED_INTERVAL_SECONDS']}"
        "; defaults 30 + 30)",
        "duplicates: deliveries n8n had answered when their worker died, before the outcome "
        "was recorded; they are delivered again (at least once)",
    ]
    return figures


def _dups(bench: Bench) -> int:
    return int(bench.upstream.stats()["duplicates"])
