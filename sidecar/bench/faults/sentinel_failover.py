"""Sentinel failover under load: a primary, a replica and three redis-sentinel processes
on loopback ports; kill -9 the primary. Measured: the time until webhooks are queued again
(202) and the 202s lost because the replica had not received them yet (replication lag)."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, count, delivered
from sidecar.bench.faults.parts import (
    RECOVERY_SETTINGS,
    SENDERS,
    Sizes,
    queue_gateway,
    sleep_until,
    start_workers,
)
from sidecar.harness.redis_server import SHIPPED_CONFIG
from sidecar.harness.sentinel import DOWN_AFTER_MS, SentinelSet

REQUIREMENT = "recovery and replication-lag losses reported"
FAILOVER_S = 8.0  # load after the kill: the sentinels need down-after + an election


def run(bench: Bench, sizes: Sizes) -> Figures:
    """Kill the primary `around_s` into the load."""
    tmp = bench.procs.logdir / "sentinel"
    tmp.mkdir()
    topology = SentinelSet(bench.procs, tmp).start(SHIPPED_CONFIG)
    settings = {**topology.settings(), **RECOVERY_SETTINGS}
    client = topology.client()
    gateway = queue_gateway(bench, **settings)
    workers = start_workers(bench, bench.options.workers, client, **settings)
    load = FaultLoad([gateway.port], sizes.rate, sizes.around_s + FAILOVER_S, SENDERS).start()
    try:
        sleep_until(load.started_at, sizes.around_s)
        old = topology.kill_primary()
        killed = time.time()
        outcomes = load.wait()
        seen, _, duplicates = delivered(bench, outcomes, sizes.drain_s)
        new = topology.primary_port()
    finally:
        bench.procs.stop(gateway.proc, *workers)
        client.close()
    figures = count(Figures("sentinel failover", REQUIREMENT), outcomes, seen, duplicates)
    after = [o for o in outcomes if o.due > killed]
    last_other = max((o.due for o in after if o.status != 202), default=killed)
    queued_again = [o.answered for o in after if o.status == 202 and o.due >= last_other]
    figures.recovery_s = (min(queued_again) - killed) if queued_again else None
    ages = sorted(killed - o.answered for o in outcomes if o.status == 202 and o.seq not in seen)
    figures.extra = {"lost_ages_s": [round(a, 3) for a in ages], "old": old, "new": new}
    figures.met = new != old and figures.recovery_s is not None
    figures.notes += [
        f"primary {old} killed; the sentinels promoted {new} (down-after {DOWN_AFTER_MS} ms)",
        f"{figures.passed_through} passed straight to n8n during the failover",
        f"{len(ages)} 202s lost (acknowledged by the old primary, not yet on the replica)",
        "recovery: kill to 202s again for good",
    ]
    return figures
