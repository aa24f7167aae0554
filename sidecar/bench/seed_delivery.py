"""Delivery by the seed's stack, the deliver scenario's second baseline: the same number of
jobs in a BullMQ queue, delivered to the same upstream by as many BullMQ `Worker` processes
as the sidecar has workers, each with the sidecar workers' concurrency. Measured from the
moment they may take jobs (connected, start-up done) until the upstream has counted every
job; none may be lost, failed or delivered twice."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sidecar.bench.context import Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.seed_stack import SeedStack
from sidecar.bench.usage import rss_mb, tree_cpu_seconds

POLL_SECONDS = 0.05


def wait_delivered(bench: Bench, workers: list[subprocess.Popen], count: int) -> float:
    """Wait until the upstream has counted `count` deliveries, showing them; the peak RSS of
    the first worker. BenchError when a worker exits or time runs out."""
    deadline, peak = time.monotonic() + bench.options.timeout, 0.0
    with bench.progress.counting("delivered by BullMQ workers", count, "jobs") as counter:
        while (delivered := bench.upstream.stats()["count"]) < count:
            counter.set(delivered)
            gone = next((proc for proc in workers if proc.poll() is not None), None)
            if gone:
                raise BenchError(bench.procs.describe_exit(gone))
            if time.monotonic() > deadline:
                raise BenchError(f"BullMQ workers: {delivered} of {count} delivered in time")
            peak = max(peak, rss_mb(workers[0].pid))
            time.sleep(POLL_SECONDS)
        counter.set(delivered)
    return peak


def check_delivered(seed: SeedStack, count: int, stats: dict) -> None:
    """Every job delivered exactly once, none left waiting or failed."""
    waiting, failed = seed.stored(), seed.failed()
    if stats["distinct"] != count or stats["duplicates"] or waiting or failed:
        raise BenchError(
            f"BullMQ workers: the upstream saw {stats['distinct']} of {count} jobs "
            f"({stats['duplicates']} duplicates), {waiting} still waiting, {failed} failed"
        )


def seed_delivery(bench: Bench, modules: Path, count: int, workers: int) -> dict:
    """Fill `count` jobs, let `workers` BullMQ workers drain them: rates, CPU, peak RSS."""
    seed, concurrency = SeedStack(bench, modules), bench.options.concurrency
    seed.fill(count, 1)
    bench.upstream.reset()
    bench.progress.say(f"deliver: {count} jobs, {workers} x BullMQ Worker")
    procs = seed.start_workers(workers, concurrency)
    try:
        cpu_before, started = sum(tree_cpu_seconds(p.pid) for p in procs), time.perf_counter()
        seed.go(procs)
        peak = wait_delivered(bench, procs, count)
        wall = time.perf_counter() - started
        cpu = sum(tree_cpu_seconds(p.pid) for p in procs) - cpu_before
    finally:
        bench.procs.stop(*procs)
    stats = bench.upstream.stats()
    check_delivered(seed, count, stats)
    span = (stats["lastMs"] - stats["firstMs"]) / 1000
    bench.reset()
    return {
        "label": f"BullMQ Worker (concurrency {concurrency})",
        "jobs": count,
        "workers": workers,
        "rate_per_s": (count - 1) / span if span > 0 else float("nan"),
        "wall_rate_per_s": count / wall,
        "worker_cpu_us_per_job": cpu / count * 1e6,
        "worker_rss_mb": peak,
    }
