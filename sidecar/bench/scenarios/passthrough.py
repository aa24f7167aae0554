"""Passthrough (single mode): the same webhooks straight to the upstream (the stand-in for
n8n) and through the sidecar. At concurrency 1 the added latency (targets: median ≤ 1 ms,
p99 ≤ 5 ms); at `senders` connections the rate (target ≥ half of direct). Driven by wrk, 5 s a
run, direct before and after the sidecar (their mean is the baseline); without wrk by the
Python senders in interleaved rounds, so machine noise hits both sides alike."""

from __future__ import annotations

import statistics
from pathlib import Path

from sidecar.bench.context import Bench
from sidecar.bench.load import send_closed_loop
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.stats import latency_summary_ms, ratio
from sidecar.bench.usage import tree_cpu_seconds
from sidecar.bench.wrk import WrkLoad, load_generator_rows, run_wrk

ROUNDS = 5
WRK_SECONDS = 5
WRK_ORDER = ("direct", "sidecar", "direct")
SUMMARY = ("p50_ms", "p99_ms", "rate_per_s")
TARGET_ADDED_MEDIAN_MS = 1.0
TARGET_ADDED_P99_MS = 5.0
TARGET_RATE_RATIO = 0.5


def measure_sides(bench: Bench, ports: dict[str, int], concurrency: int) -> dict[str, dict]:
    """Interleaved rounds on each side; latency summary and median rate per side."""
    requests = bench.options.requests
    per_round = max(concurrency, requests // ROUNDS)
    latencies: dict[str, list[float]] = {side: [] for side in ports}
    rates: dict[str, list[float]] = {side: [] for side in ports}
    timeout = bench.options.timeout
    for port in ports.values():  # warm-up: connections, caches
        send_closed_loop(port, concurrency * 20, concurrency, timeout, expected=200)
    total = per_round * ROUNDS * len(ports)
    with bench.progress.counting(f"concurrency {concurrency}", total, "requests") as counter:
        for _ in range(ROUNDS):
            for side, port in ports.items():
                answers, elapsed = send_closed_loop(
                    port, per_round, concurrency, timeout, counter, expected=200
                )
                latencies[side] += [answer.latency for answer in answers]
                rates[side].append(len(answers) / elapsed)
    return {
        side: {**latency_summary_ms(latencies[side]), "rate_per_s": statistics.median(rates[side])}
        for side in ports
    }


def measure_with_wrk(
    bench: Bench, wrk: Path, ports: dict[str, int], concurrency: int, gateway_pid: int
) -> dict[str, dict]:
    """wrk runs in WRK_ORDER after a warm-up second on each side (not in smoke runs); per
    side the mean of its runs' p50, p99 and rate, and the runs themselves; the gateway's
    CPU per request in its runs."""
    smoke = bench.options.smoke
    load = WrkLoad(concurrency, 1 if smoke else WRK_SECONDS, unique=False)
    for port in () if smoke else ports.values():
        run_wrk(wrk, port, WrkLoad(concurrency, 1, unique=False))
    order = ", ".join(WRK_ORDER)
    bench.progress.say(f"passthrough: wrk, concurrency {concurrency}: {order}")
    runs: dict[str, list[dict]] = {side: [] for side in ports}
    for side in WRK_ORDER:
        cpu_before = tree_cpu_seconds(gateway_pid)
        figures = run_wrk(wrk, ports[side], load).figures()
        if side == "sidecar":
            cpu = tree_cpu_seconds(gateway_pid) - cpu_before
            figures["cpu_us_per_request"] = cpu / max(1, figures["requests"]) * 1e6
        runs[side].append(figures)
    return {
        side: {
            **{key: statistics.mean(run[key] for run in runs[side]) for key in SUMMARY},
            "runs": runs[side],
        }
        for side in ports
    }


def measure(
    bench: Bench, ports: dict[str, int], concurrency: int, gateway_pid: int
) -> dict[str, dict]:
    """Both sides at `concurrency`: with wrk when there is one, else the Python senders."""
    wrk = bench.tool("wrk").path
    if wrk:
        return measure_with_wrk(bench, wrk, ports, concurrency, gateway_pid)
    return measure_sides(bench, ports, concurrency)


def direct_to(bench: Bench) -> str:
    """What the direct figures were measured against, for the baseline cells."""
    return "direct to the node stand-in" if bench.upstream.kind == "node" else "direct (Python)"


def latency_rows(sides: dict[str, dict], concurrency: int, direct: str) -> list[Row]:
    """Median and p99 through the sidecar against direct, with the added-latency targets."""
    rows = []
    for key, target in (("p50_ms", TARGET_ADDED_MEDIAN_MS), ("p99_ms", TARGET_ADDED_P99_MS)):
        ours, baseline = sides["sidecar"][key], sides["direct"][key]
        rows.append(
            Row(
                f"latency {key[:3]}, concurrency {concurrency}",
                f"{ms(ours)} (+{ours - baseline:.2f})",
                f"{ms(baseline)} {direct}",
                ratio(ours, baseline),
                f"added <= {target:g} ms",
                ours - baseline <= target,
            )
        )
    return rows


def rate_row(sides: dict[str, dict], concurrency: int, direct: str) -> Row:
    """Requests per second through the sidecar against direct (target beyond concurrency 1)."""
    ours, baseline = sides["sidecar"]["rate_per_s"], sides["direct"]["rate_per_s"]
    judged = concurrency > 1
    return Row(
        f"requests/s, concurrency {concurrency}",
        per_second(ours),
        f"{per_second(baseline)} {direct}",
        ratio(ours, baseline),
        f">= {TARGET_RATE_RATIO:g}x direct" if judged else "",
        ratio(ours, baseline) >= TARGET_RATE_RATIO if judged else None,
    )


def cpu_rows(sides: dict[str, dict], concurrency: int) -> list[Row]:
    """The gateway's CPU per request (wrk runs only: the Python senders share the CPU)."""
    runs = sides["sidecar"].get("runs", [])
    if not runs:
        return []
    per_request = statistics.mean(run["cpu_us_per_request"] for run in runs)
    return [Row(f"gateway CPU per request, concurrency {concurrency}", f"{per_request:,.0f} µs")]


def run(bench: Bench) -> Outcome:
    """Start a single-mode gateway and compare it with the upstream at 1 and N connections."""
    gateway = bench.start_gateway(SIDECAR_MODE="single")
    ports = {"direct": bench.upstream.port, "sidecar": gateway.port}
    outcome, direct = Outcome("passthrough"), direct_to(bench)
    outcome.figures["upstream"] = bench.upstream.kind
    try:
        for concurrency in sorted({1, bench.options.senders}):
            sides = measure(bench, ports, concurrency, gateway.proc.pid)
            outcome.figures[f"concurrency_{concurrency}"] = sides
            if concurrency == 1:
                outcome.rows += latency_rows(sides, concurrency, direct)
            outcome.rows += [rate_row(sides, concurrency, direct), *cpu_rows(sides, concurrency)]
    finally:
        bench.procs.stop(gateway.proc)
    outcome.rows += load_generator_rows(bench)
    return outcome
