"""n8n down (answering 503) for `n8n_down_s` under load, today's delivery behaviour:
every attempt fails, the job is retried SIDECAR_JOB_ATTEMPTS times with backoff, then
dead-lettered. What was delivered once n8n came back, and what waits in the dead-letter
queue (not lost from Redis: replayable with `n8n-sidecar dlq replay`)."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, accepted_seqs, count, wait_delivered
from sidecar.bench.faults.parts import SENDERS, Sizes, queue_gateway, sleep_until, start_workers
from sidecar.mode.backlog import dead_letter_size

REQUIREMENT = "0 lost (none dead-lettered)"
AFTER_S = 15.0  # longest wait for deliveries once n8n is back (retries of the backoff)


def run(bench: Bench, sizes: Sizes) -> Figures:
    """n8n goes down one second into the load and comes back `n8n_down_s` later."""
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
        seen, done = wait_delivered(bench, accepted_seqs(outcomes), min(AFTER_S, sizes.drain_s))
        duplicates = int(bench.upstream.stats()["duplicates"])
        dead = dead_letter_size(bench.client, bench.settings.queue_prefix)
    finally:
        bench.procs.stop(gateway.proc, *workers)
    figures = count(
        Figures(f"n8n down {sizes.n8n_down_s:g} s", REQUIREMENT), outcomes, seen, duplicates
    )
    figures.extra = {"dead_lettered": dead}
    figures.recovery_s = done - back if figures.lost == 0 else None
    figures.met = figures.lost == 0
    figures.notes += [
        f"{dead} dead-lettered after SIDECAR_JOB_ATTEMPTS={bench.settings.job_attempts} failed "
        f"attempts (backoff {bench.settings.job_backoff_seconds:g} s): not delivered, kept "
        "for `n8n-sidecar dlq replay`",
        "recovery: n8n back to every accepted webhook delivered (none: some never were)",
    ]
    return figures
