"""Ingest (queue mode): webhooks accepted durably (202) per second through a real gateway,
with the guards on (unique bodies pass dedup; the per-user limit is out of reach but still
counted), driven by wrk with 16 connections for 10 s (installed when missing; the Python
senders when it cannot be). Baselines from the same run: the seed's stack — a plain Node
`http.createServer` storing each webhook with BullMQ's `Queue.add` — under the same load on
the same Redis, and in-process stores without HTTP: the sidecar's intake against vanilla
RQ's `Queue.enqueue`. Target: >= 3,000/s with p99 <= 20 ms on 2 cores; goal >= 0.5x the
seed stack."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

from rq import Queue
from rq.serializers import JSONSerializer

from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.ingest_load import measure_server
from sidecar.bench.jobs import captured_webhook, waiting_jobs
from sidecar.bench.load import SEQUENCE
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.seed_stack import SeedStack
from sidecar.bench.stats import ratio
from sidecar.bench.usage import gateway_rss, rss_mb
from sidecar.bench.wrk import load_generator_rows
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import DELIVER_FUNC

TARGET_RATE = 3000
TARGET_P99_MS = 20.0
GOAL_SEED_RATIO = 0.5


def in_process(bench: Bench, count: int) -> dict:
    """Rates of the sidecar's intake and of RQ's Queue.enqueue, no HTTP, one thread."""
    intake = Intake(bench.client, bench.settings)
    rq_queue = Queue(QUEUE, connection=bench.client, serializer=JSONSerializer)
    captured = [captured_webhook(next(SEQUENCE)) for _ in range(2 * count)]
    timings = {}
    for name, store in (
        ("intake_per_s", lambda c: intake.enqueue(c)),
        ("rq_enqueue_per_s", lambda c: rq_queue.enqueue(DELIVER_FUNC, c.to_payload())),
    ):
        batch, captured = captured[:count], captured[count:]
        started = time.perf_counter()
        for webhook in batch:
            store(webhook)
        timings[name] = count / (time.perf_counter() - started)
    return timings


def gateway_side(bench: Bench) -> dict:
    """A queue-mode gateway under the load generator: rate, latencies, CPU, RSS."""
    gateway = bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT)
    try:
        stored = partial(waiting_jobs, bench.client)
        figures = measure_server(bench, gateway.proc, gateway.port, stored, "the gateway")
        return {**figures, **gateway_rss(gateway.proc.pid)}
    finally:
        bench.procs.stop(gateway.proc)


def seed_side(bench: Bench) -> dict:
    """The seed's stack (Node + BullMQ Queue.add) under the same load, on the same Redis;
    {"skipped": why} without node or bullmq."""
    found = bench.tool("bullmq")
    if found.path is None:
        return {"skipped": found.note}
    seed = SeedStack(bench, found.path)
    proc, port = seed.start_ingest()
    try:
        figures = measure_server(bench, proc, port, seed.stored, "the seed stack")
        return {**figures, "rss_mb": rss_mb(proc.pid)}
    finally:
        bench.procs.stop(proc)


def seed_cells(
    seed: dict, key: str, text: Callable[[dict], str], first: bool = False
) -> tuple[str, float]:
    """The baseline cell of a seed-stack figure and its value; when skipped, why (in the
    `first` row) and NaN."""
    if "skipped" in seed:
        return f"seed stack skipped: {seed['skipped']}" if first else "", math.nan
    return text(seed), seed[key]


def rows(bench: Bench, gateway: dict, seed: dict, local: dict) -> list[Row]:
    """The table rows."""
    rate_text, seed_rate = seed_cells(
        seed,
        "rate_per_s",
        lambda s: f"{per_second(s['rate_per_s'])} seed stack, Node + BullMQ",
        first=True,
    )
    p99_text, seed_p99 = seed_cells(
        seed, "p99_ms", lambda s: f"{ms(s['p99_ms'])} ({ms(s['p50_ms'])}) seed stack"
    )
    cpu_text, seed_cpu = seed_cells(
        seed, "cpu_us_per_webhook", lambda s: f"{s['cpu_us_per_webhook']:,.0f} us seed stack"
    )
    return [
        Row(
            f"accepted (202) webhooks/s, {gateway['load_generator']}",
            per_second(gateway["rate_per_s"]),
            rate_text,
            ratio(gateway["rate_per_s"], seed_rate),
            f">= {TARGET_RATE:,}/s (goal {GOAL_SEED_RATIO:g}x seed)",
            gateway["rate_per_s"] >= TARGET_RATE,
        ),
        Row(
            "latency p99 (p50)",
            f"{ms(gateway['p99_ms'])} ({ms(gateway['p50_ms'])})",
            p99_text,
            ratio(gateway["p99_ms"], seed_p99),
            f"p99 <= {TARGET_P99_MS:g} ms",
            gateway["p99_ms"] <= TARGET_P99_MS,
        ),
        Row(
            "CPU per webhook",
            f"{gateway['cpu_us_per_webhook']:,.0f} us",
            cpu_text,
            ratio(gateway["cpu_us_per_webhook"], seed_cpu),
        ),
        Row(
            "in-process store, no HTTP",
            per_second(local["intake_per_s"]),
            f"{per_second(local['rq_enqueue_per_s'])} RQ Queue.enqueue",
            ratio(local["intake_per_s"], local["rq_enqueue_per_s"]),
        ),
        *load_generator_rows(bench),
    ]


def run(bench: Bench) -> Outcome:
    """Gateway ingest, the seed stack's beside it, and the in-process stores."""
    gateway = gateway_side(bench)
    bench.reset()
    seed = seed_side(bench)
    bench.reset()
    bench.progress.say("ingest: in-process stores (intake, then RQ Queue.enqueue)")
    local = in_process(bench, bench.options.jobs)
    bench.reset()
    figures = {"gateway": gateway, "seed_stack": seed, "in_process": local}
    return Outcome("ingest", rows(bench, gateway, seed, local), figures)
