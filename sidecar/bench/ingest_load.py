"""Load on an ingest server — the queue-mode gateway or the seed stack's — that answers 202
per webhook stored: unique webhooks from wrk (16 connections, 10 s) when it is there, else
from the Python senders (`--senders`, `--jobs`). Every 202 must have been stored."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sidecar.bench.context import Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.load import send_closed_loop
from sidecar.bench.stats import latency_summary_ms
from sidecar.bench.usage import tree_cpu_seconds
from sidecar.bench.wrk import WrkLoad, run_wrk

CONNECTIONS = 16
SECONDS = 10
WARM_UP_SECONDS = 1
SETTLE_SECONDS = 0.2


def load_generator(bench: Bench) -> str:
    """What drives the load, for the table."""
    if bench.tool("wrk").path:
        return f"wrk, {CONNECTIONS} connections"
    return f"Python senders, {bench.options.senders} connections"


def with_wrk(bench: Bench, wrk: Path, port: int, warm_up: bool) -> dict:
    """One wrk run of unique webhooks: {requests, seconds, rate_per_s, p50_ms, p99_ms, ...}."""
    seconds = WARM_UP_SECONDS if warm_up or bench.options.smoke else SECONDS
    return run_wrk(wrk, port, WrkLoad(CONNECTIONS, seconds, unique=True)).figures()


def with_python(bench: Bench, port: int, warm_up: bool, what: str) -> dict:
    """`--jobs` webhooks (a tenth to warm up) from the Python senders, each answered 202."""
    opts = bench.options
    count = max(opts.senders, opts.jobs // 10) if warm_up else opts.jobs
    with bench.progress.counting(what, count, "webhooks") as counter:
        answers, elapsed = send_closed_loop(
            port, count, opts.senders, opts.timeout, None if warm_up else counter, expected=202
        )
    return {
        "requests": len(answers),
        "seconds": elapsed,
        "rate_per_s": len(answers) / elapsed,
        **latency_summary_ms([answer.latency for answer in answers]),
    }


def drive(bench: Bench, port: int, what: str, warm_up: bool = False) -> dict:
    """One load run against 127.0.0.1:`port` (`what` names it in the progress)."""
    wrk = bench.tool("wrk").path
    if wrk:
        if not warm_up:
            bench.progress.say(f"ingest: {load_generator(bench)} into {what}")
        return with_wrk(bench, wrk, port, warm_up)
    return with_python(bench, port, warm_up, what)


def settled(stored: Callable[[], int]) -> int:
    """`stored()` once it holds still for SETTLE_SECONDS: webhooks that were in flight when
    the load generator stopped are stored by then."""
    last = stored()
    while True:
        time.sleep(SETTLE_SECONDS)
        now = stored()
        if now == last:
            return now
        last = now


def measure_server(
    bench: Bench, proc: subprocess.Popen, port: int, stored: Callable[[], int], what: str
) -> dict:
    """Warm up (not in smoke runs), then one measured run: its figures, the CPU of `proc` and
    its children per webhook, and the check that each 202 was stored (wrk may stop with one
    in flight per connection, answered too late to count but stored)."""
    if not bench.options.smoke:
        drive(bench, port, what, warm_up=True)
    stored_before, cpu_before = settled(stored), tree_cpu_seconds(proc.pid)
    figures = drive(bench, port, what)
    cpu = tree_cpu_seconds(proc.pid) - cpu_before
    new, answered = settled(stored) - stored_before, figures["requests"]
    in_flight = CONNECTIONS if bench.tool("wrk").path else 0
    if not answered <= new <= answered + in_flight:
        raise BenchError(f"{what} answered 202 {answered} times but stored {new}")
    figures["cpu_us_per_webhook"] = cpu / max(1, answered) * 1e6
    figures["load_generator"] = load_generator(bench)
    return figures
