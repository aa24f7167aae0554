"""SIGTERM to a gateway under load; the senders move to a second gateway when the first
refuses connections (as a load balancer would). Required: no connection reset while a
request is in flight — a webhook without an answer must not have been taken (it is checked
against what n8n received)."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, count, delivered
from sidecar.bench.faults.parts import SENDERS, Sizes, queue_gateway, sleep_until, start_workers

REQUIREMENT = "0 reset in flight, 0 lost"


def run(bench: Bench, sizes: Sizes) -> Figures:
    """Two gateways, SIGTERM to the first one mid-load."""
    first, second = queue_gateway(bench), queue_gateway(bench)
    workers = start_workers(bench, bench.options.workers, bench.client)
    load = FaultLoad([first.port, second.port], sizes.rate, 2 * sizes.around_s, SENDERS).start()
    try:
        sleep_until(load.started_at, sizes.around_s)
        first.proc.terminate()
        signalled = time.time()
        outcomes = load.wait()
        exit_code = first.proc.wait(timeout=60)
        seen, _, duplicates = delivered(bench, outcomes, sizes.drain_s)
    finally:
        bench.procs.stop(first.proc, second.proc, *workers)
    figures = count(Figures("gateway SIGTERM", REQUIREMENT), outcomes, seen, duplicates)
    errors = sorted({o.error for o in outcomes if o.error})
    figures.met = figures.lost == 0 and figures.no_answer_but_delivered == 0
    figures.extra = {"exit_code": exit_code, "errors": errors}
    moved = [o.answered for o in outcomes if o.answered > signalled and o.status in (200, 202)]
    figures.recovery_s = (min(moved) - signalled) if moved else None
    figures.notes += [
        f"the terminated gateway exited with code {exit_code}",
        f"{figures.no_answer} webhooks got no answer ({', '.join(errors) or 'none'}); "
        f"{figures.no_answer_but_delivered} of those were nevertheless taken (reset in flight)",
        "recovery: SIGTERM to the next accepted webhook",
    ]
    return figures
