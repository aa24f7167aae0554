"""slow-n8n (single mode): `--crowd` concurrent keep-alive senders for `--crowd-seconds`,
the upstream answering each webhook after 1 s (an n8n workflow that responds when its last
node finishes) — straight to the upstream, then through a single-mode gateway, in the same
run. Targets (issue 13): ≥ 0.9 x direct throughput, p99 ≤ 1.3 s; memory per open connection
reported. The load generator is hey (installed with apt-get when missing; a Python asyncio
one when it cannot be, and the table says so)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sidecar.bench.context import Bench
from sidecar.bench.crowd import CrowdFigures, python_crowd
from sidecar.bench.errors import BenchError
from sidecar.bench.hey import find_hey, hey_argv, parse_hey
from sidecar.bench.limits import raise_open_files
from sidecar.bench.report import Outcome, Row, per_second
from sidecar.bench.stats import ratio
from sidecar.bench.usage import open_connections, tree_cpu_seconds, tree_rss_mb

SLOW_PATH = "/webhook/slow"  # the stand-in answers it after 1 s
ANSWER_TIMEOUT = 10.0  # seconds a sender waits for its answer
SAMPLE_AT = 0.5  # memory and connections are sampled half-way through the load
TARGET_RATIO = 0.9
TARGET_P99_MS = 1300.0


def start_load(bench: Bench, hey: str | None, port: int) -> Callable[[], CrowdFigures]:
    """Start the crowd on `port`; a function that waits for its figures."""
    senders, seconds = bench.options.crowd, bench.options.crowd_seconds
    most = seconds + ANSWER_TIMEOUT + 60
    if hey is None:
        args = (port, SLOW_PATH, senders, seconds, ANSWER_TIMEOUT)
        pool = ThreadPoolExecutor(1, thread_name_prefix="crowd")
        future = pool.submit(python_crowd, *args)
        pool.shutdown(wait=False)
        return lambda: future.result(timeout=most)
    argv = hey_argv(hey, port, SLOW_PATH, senders, seconds, ANSWER_TIMEOUT)
    proc = bench.procs.start("hey", argv)

    def finish() -> CrowdFigures:
        """Wait for hey and read its summary."""
        try:
            proc.wait(timeout=most)
        except subprocess.TimeoutExpired:
            bench.procs.stop(proc)
            raise BenchError(f"hey did not finish within {most:g} s") from None
        if proc.returncode != 0:
            raise BenchError(bench.procs.describe_exit(proc))
        return parse_hey(bench.procs.output(proc))

    return finish


def measure(bench: Bench, hey: str | None, port: int, pid: int | None) -> dict:
    """One side under the crowd; with `pid`, the RSS of its process tree idle and half-way
    and its CPU per answered request."""
    idle = tree_rss_mb(pid) if pid else 0.0
    cpu_before = tree_cpu_seconds(pid) if pid else 0.0
    load_before = os.getloadavg()[0]
    finish = start_load(bench, hey, port)
    time.sleep(bench.options.crowd_seconds * SAMPLE_AT)
    busy, connections = (tree_rss_mb(pid) if pid else 0.0), open_connections(port)
    figures = finish()
    cpu = tree_cpu_seconds(pid) - cpu_before if pid else 0.0
    per_connection = (busy - idle) * 1024 / connections if pid and connections else None
    return {
        "rate_per_s": figures.rate_per_s,
        "answered": figures.answered,
        "no_answer": figures.failed,
        "elapsed_s": figures.elapsed,
        "p50_ms": figures.p50_ms,
        "p99_ms": figures.p99_ms,
        "tool": figures.tool,
        "open_connections": connections,
        "rss_idle_mb": idle,
        "rss_busy_mb": busy,
        "kb_per_connection": per_connection,
        "cpu_us_per_request": cpu / max(1, figures.answered) * 1e6 if pid else None,
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def seconds_text(ms: float) -> str:
    """A latency in seconds for the table."""
    return f"{ms / 1000:.2f} s"


def rows(ours: dict, direct: dict, senders: int) -> list[Row]:
    """Throughput, latency, unanswered senders, memory per open connection."""
    tool = ours["tool"]
    memory = ours["kb_per_connection"]
    memory_text = "n/a" if memory is None else f"{memory:,.0f} KB"
    return [
        Row(
            f"requests/s, {senders:,} senders ({tool}), n8n answers in 1 s",
            per_second(ours["rate_per_s"]),
            f"{per_second(direct['rate_per_s'])} direct",
            ratio(ours["rate_per_s"], direct["rate_per_s"]),
            f">= {TARGET_RATIO:g}x direct",
            ratio(ours["rate_per_s"], direct["rate_per_s"]) >= TARGET_RATIO,
        ),
        Row(
            "latency p99 (p50)",
            f"{seconds_text(ours['p99_ms'])} ({seconds_text(ours['p50_ms'])})",
            f"{seconds_text(direct['p99_ms'])} ({seconds_text(direct['p50_ms'])}) direct",
            ratio(ours["p99_ms"], direct["p99_ms"]),
            f"p99 <= {seconds_text(TARGET_P99_MS)}",
            ours["p99_ms"] <= TARGET_P99_MS,
        ),
        Row(
            f"requests without an answer within {ANSWER_TIMEOUT:g} s",
            f"{ours['no_answer']:,} ({ours['answered']:,} answered)",
            f"{direct['no_answer']:,} ({direct['answered']:,} answered) direct",
        ),
        Row("gateway CPU per request", f"{ours['cpu_us_per_request']:,.0f} µs"),
        Row(
            "gateway memory per open connection",
            f"{memory_text} ({ours['open_connections']:,} open, RSS "
            f"{ours['rss_idle_mb']:.0f} -> {ours['rss_busy_mb']:.0f} MB)",
        ),
    ]


def run(bench: Bench) -> Outcome:
    """The crowd straight to the upstream, then through a single-mode gateway."""
    senders, seconds = bench.options.crowd, bench.options.crowd_seconds
    raise_open_files(senders)
    hey = find_hey(install=not bench.options.smoke, say=bench.progress.say)
    if hey is None:
        bench.progress.say("slow-n8n: hey not available: the Python asyncio load generator")
    gateway = bench.start_gateway(SIDECAR_MODE="single")
    try:
        bench.progress.say(f"slow-n8n: {senders:,} senders for {seconds:g} s straight to n8n")
        direct = measure(bench, hey, bench.upstream.port, None)
        bench.progress.say(f"slow-n8n: {senders:,} senders for {seconds:g} s through the gateway")
        ours = measure(bench, hey, gateway.port, gateway.proc.pid)
    finally:
        bench.procs.stop(gateway.proc)
    figures = {"direct": direct, "sidecar": ours, "senders": senders, "seconds": seconds}
    return Outcome("slow-n8n", rows(ours, direct, senders), figures)
