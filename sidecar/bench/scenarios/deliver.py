"""Deliver: jobs delivered to the upstream per second by `workers` n8n-sidecar worker
processes, against vanilla RQ `SimpleWorker` processes on the same jobs and upstream, and
against the seed's stack: BullMQ `Worker` processes (`seed_delivery`; skipped without node).
The rate is first to last delivery at the upstream ("steady"), and spawn to exit ("wall").
Target: >= 1,000/s (seed spec), goal 2,000/s."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sidecar.backend.rq_layout import registry_key
from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.jobs import captured_webhook, prefill, waiting_jobs
from sidecar.bench.load import SEQUENCE
from sidecar.bench.report import Outcome, Row, per_second
from sidecar.bench.seed_delivery import seed_delivery
from sidecar.bench.stats import ratio
from sidecar.bench.usage import reaped_children_cpu_seconds, rss_mb

TARGET_RATE = 1000
GOAL_RATE = 2000


def sidecar_argv(concurrency: int) -> list[str]:
    """One `n8n-sidecar worker --burst` on the inbound queue."""
    command = f"-m sidecar worker --burst --queue webhooks:inbound --concurrency {concurrency}"
    return [sys.executable, *command.split()]


def rq_argv(redis_url: str) -> list[str]:
    """One vanilla `rq worker --burst` SimpleWorker on the inbound queue."""
    rq_cli = Path(sys.executable).with_name("rq")
    if not rq_cli.exists():
        found = shutil.which("rq")
        if not found:
            raise BenchError("the `rq` command is not installed next to this Python or on PATH")
        rq_cli = Path(found)
    options = (
        "worker --burst --worker-class rq.worker.SimpleWorker --logging_level WARNING "
        "--serializer rq.serializers.JSONSerializer"
    )
    return [str(rq_cli), *options.split(), "--url", redis_url, QUEUE]


def wait_for_exit(
    bench: Bench, workers: list[subprocess.Popen], tick: Callable[[], int] = lambda: 0
) -> float:
    """Wait for every worker to exit (non-zero exit is an error), calling `tick` (it returns
    the deliveries so far) as it goes; the peak RSS of the first worker."""
    deadline, peak = time.monotonic() + bench.options.timeout, 0.0
    while any(proc.poll() is None for proc in workers):
        if time.monotonic() > deadline:
            raise BenchError(
                f"workers still running after {bench.options.timeout:g} s ({tick()} delivered)"
            )
        tick()
        peak = max(peak, rss_mb(workers[0].pid))
        time.sleep(0.05)
    for proc in workers:
        if proc.returncode != 0:
            raise BenchError(bench.procs.describe_exit(proc))
    return peak


def wait_showing_deliveries(bench: Bench, workers: list[subprocess.Popen], total: int) -> float:
    """wait_for_exit with a live count of deliveries at the upstream."""
    with bench.progress.counting("delivered", total, "jobs") as counter:

        def tick() -> int:
            delivered = bench.upstream.stats()["count"]
            counter.set(delivered)
            return delivered

        peak = wait_for_exit(bench, workers, tick)
        tick()
    return peak


def check_delivered(bench: Bench, label: str, count: int, stats: dict) -> None:
    """Every job delivered exactly once, nothing left waiting or failed."""
    waiting, failed = waiting_jobs(bench.client), bench.client.zcard(registry_key("failed", QUEUE))
    if stats["distinct"] != count or stats["duplicates"] or waiting or failed:
        raise BenchError(
            f"{label}: the upstream saw {stats['distinct']} of {count} jobs "
            f"({stats['duplicates']} duplicates), {waiting} still waiting, {failed} failed"
        )


def startup_cpu_seconds(bench: Bench, argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds one burst worker spends starting and stopping, on an empty queue."""
    bench.reset()
    before = reaped_children_cpu_seconds()
    wait_for_exit(bench, [bench.procs.start("worker", argv, env)])
    return reaped_children_cpu_seconds() - before


def run_side(
    bench: Bench, label: str, argv: list[str], env: dict[str, str], count: int, workers: int
) -> dict:
    """Pre-fill `count` jobs, run `workers` workers until they exit; rates, CPU, peak RSS."""
    startup = startup_cpu_seconds(bench, argv, env)
    prefill(bench, [captured_webhook(next(SEQUENCE)).to_payload() for _ in range(count)])
    bench.upstream.reset()
    bench.progress.say(f"deliver: {count} jobs, {workers} x {label}")
    cpu_before, started = reaped_children_cpu_seconds(), time.perf_counter()
    procs = [bench.procs.start("worker", argv, env) for _ in range(workers)]
    peak = wait_showing_deliveries(bench, procs, count)
    wall = time.perf_counter() - started
    cpu = reaped_children_cpu_seconds() - cpu_before - workers * startup
    stats = bench.upstream.stats()
    check_delivered(bench, label, count, stats)
    span = (stats["lastMs"] - stats["firstMs"]) / 1000
    bench.reset()
    return {
        "label": label,
        "jobs": count,
        "workers": workers,
        "rate_per_s": (count - 1) / span if span > 0 else float("nan"),
        "wall_rate_per_s": count / wall,
        "worker_cpu_us_per_job": max(0.0, cpu) / count * 1e6,  # start-up varies: never < 0
        "worker_startup_cpu_s": startup,
        "worker_rss_mb": peak,
    }


def seed_rows(ours: dict, seed: dict) -> list[Row]:
    """Rate and CPU against the seed stack's BullMQ workers (a note when skipped)."""
    if "skipped" in seed:
        return [Row("against the seed stack (BullMQ Worker)", "", f"skipped: {seed['skipped']}")]
    label = f"{seed['workers']} x {seed['label']}"
    return [
        Row(
            "delivered jobs/s, against the seed stack",
            per_second(ours["rate_per_s"]),
            f"{per_second(seed['rate_per_s'])} {label}",
            ratio(ours["rate_per_s"], seed["rate_per_s"]),
        ),
        Row(
            "worker CPU per job, against the seed stack",
            f"{ours['worker_cpu_us_per_job']:,.0f} us",
            f"{seed['worker_cpu_us_per_job']:,.0f} us BullMQ Worker",
            ratio(ours["worker_cpu_us_per_job"], seed["worker_cpu_us_per_job"]),
        ),
    ]


def rows(ours: dict, rq: dict) -> list[Row]:
    """The table rows against vanilla RQ."""
    return [
        Row(
            f"delivered jobs/s, {ours['workers']} workers",
            per_second(ours["rate_per_s"]),
            f"{per_second(rq['rate_per_s'])} rq SimpleWorker",
            ratio(ours["rate_per_s"], rq["rate_per_s"]),
            f">= {TARGET_RATE:,}/s (goal {GOAL_RATE:,})",
            ours["rate_per_s"] >= TARGET_RATE,
        ),
        Row(
            "wall rate (spawn to exit)",
            per_second(ours["wall_rate_per_s"]),
            per_second(rq["wall_rate_per_s"]),
            ratio(ours["wall_rate_per_s"], rq["wall_rate_per_s"]),
        ),
        Row(
            "worker CPU per job",
            f"{ours['worker_cpu_us_per_job']:,.0f} us",
            f"{rq['worker_cpu_us_per_job']:,.0f} us",
            ratio(ours["worker_cpu_us_per_job"], rq["worker_cpu_us_per_job"]),
        ),
    ]


def both_sides(bench: Bench, count: int, workers: int) -> tuple[dict, dict]:
    """n8n-sidecar workers, then vanilla RQ SimpleWorkers, on `count` jobs each."""
    concurrency = bench.options.concurrency
    ours = run_side(
        bench,
        f"n8n-sidecar worker (concurrency {concurrency})",
        sidecar_argv(concurrency),
        bench.env(SIDECAR_WORKER_LIMIT_MAX=NO_LIMIT),
        count,
        workers,
    )
    rq = run_side(bench, "rq SimpleWorker", rq_argv(bench.redis_url), bench.env(), count, workers)
    return ours, rq


def seed_side(bench: Bench, count: int, workers: int) -> dict:
    """The seed stack's BullMQ workers on `count` jobs; {"skipped": why} without bullmq."""
    found = bench.tool("bullmq")
    if found.path is None:
        return {"skipped": found.note}
    return seed_delivery(bench, found.path, count, workers)


def run(bench: Bench) -> Outcome:
    """Ours, then vanilla RQ, then the seed stack's BullMQ workers, on the same jobs."""
    count, workers = bench.options.jobs, bench.options.workers
    ours, rq = both_sides(bench, count, workers)
    seed = seed_side(bench, count, workers)
    figures = {
        "sidecar": ours,
        "rq": rq,
        "seed_stack": seed,
        "ratio": ratio(ours["rate_per_s"], rq["rate_per_s"]),
    }
    return Outcome("deliver", rows(ours, rq) + seed_rows(ours, seed), figures)
