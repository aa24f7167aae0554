"""Passthrough (single mode): the same webhooks straight to the upstream and through the
sidecar, in interleaved rounds so machine noise hits both sides alike. At concurrency 1 the
added latency (targets: median ≤ 1 ms, p99 ≤ 5 ms); at `senders` connections the rate."""

from __future__ import annotations

import statistics

from sidecar.bench.context import Bench
from sidecar.bench.load import send_closed_loop
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.stats import latency_summary_ms, ratio

ROUNDS = 5
TARGET_ADDED_MEDIAN_MS = 1.0
TARGET_ADDED_P99_MS = 5.0


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


def latency_rows(sides: dict[str, dict], concurrency: int) -> list[Row]:
    """Median and p99 through the sidecar against direct, with the added-latency targets."""
    rows = []
    for key, target in (("p50_ms", TARGET_ADDED_MEDIAN_MS), ("p99_ms", TARGET_ADDED_P99_MS)):
        ours, direct = sides["sidecar"][key], sides["direct"][key]
        rows.append(
            Row(
                f"latency {key[:3]}, concurrency {concurrency}",
                f"{ms(ours)} (+{ours - direct:.2f})",
                f"{ms(direct)} direct",
                ratio(ours, direct),
                f"added <= {target:g} ms",
                ours - direct <= target,
            )
        )
    return rows


def rate_row(sides: dict[str, dict], concurrency: int) -> Row:
    """Requests per second through the sidecar against direct."""
    ours, direct = sides["sidecar"]["rate_per_s"], sides["direct"]["rate_per_s"]
    return Row(
        f"requests/s, concurrency {concurrency}",
        per_second(ours),
        f"{per_second(direct)} direct",
        ratio(ours, direct),
    )


def run(bench: Bench) -> Outcome:
    """Start a single-mode gateway and compare it with the upstream at 1 and N connections."""
    gateway = bench.start_gateway(SIDECAR_MODE="single")
    ports = {"direct": bench.upstream.port, "sidecar": gateway.port}
    outcome = Outcome("passthrough")
    try:
        for concurrency in sorted({1, bench.options.senders}):
            sides = measure_sides(bench, ports, concurrency)
            outcome.figures[f"concurrency_{concurrency}"] = sides
            if concurrency == 1:
                outcome.rows += latency_rows(sides, concurrency)
            outcome.rows.append(rate_row(sides, concurrency))
    finally:
        bench.procs.stop(gateway.proc)
    return outcome
