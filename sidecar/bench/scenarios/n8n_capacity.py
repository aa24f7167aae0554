"""n8n capacity: a stand-in whose answer time grows with the requests in flight beyond a
capacity K (base x (in-flight / K)^2: an overloaded n8n thrashes, more in flight gets less
done) and that answers 503 beyond 3K. The same pre-filled jobs
are delivered by workers with a static limit on deliveries in flight (K/2, K, 2K, 4K across
the workers), then with the adaptive pace (ceiling 4K, target 1.2 x the unloaded answer
time). Per run: goodput (2xx per second), the stand-in's answer time p95, 5xx answers.
Required: the adaptive pace settles within ±30 % of K (median in flight over the second
half of the run) without a 5xx storm, and its goodput is at least the best static one's
(within 5 %: the machine is shared)."""

from __future__ import annotations

from sidecar.bench.context import NO_LIMIT, OPERATION, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.jobs import captured_webhook, prefill
from sidecar.bench.load import SEQUENCE
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.scenarios.deliver import wait_for_exit
from sidecar.bench.stats import percentile
from sidecar.harness.sidecar_processes import sidecar_argv

# K, base answer ms, jobs per run, static limits as multiples of K
SIZES = {False: (16, 40.0, 4000), True: (8, 20.0, 150)}
STATIC_SHARES = {False: (0.5, 1, 2, 4), True: (1, 4)}
OVERLOAD_SHARE = 3  # 503 beyond this many times K in flight
TARGET_SHARE = 1.2
GOODPUT_SLACK = 0.95
SETTLE_BAND = 0.3


def run_once(bench: Bench, label: str, in_flight: int, adaptive: bool) -> dict:
    """Deliver the jobs with `in_flight` across the workers (the pace's ceiling if
    `adaptive`); goodput, answer times, 5xx, in-flight at the stand-in."""
    _, base_ms, jobs = SIZES[bench.options.smoke]
    workers = bench.options.workers
    per_worker = max(1, in_flight // workers)
    prefill(bench, [captured_webhook(next(SEQUENCE)).to_payload() for _ in range(jobs)])
    bench.upstream.reset()
    env = bench.env(
        SIDECAR_WORKER_LIMIT_MAX=NO_LIMIT,
        SIDECAR_PACE_ADAPTIVE="true" if adaptive else "false",
        SIDECAR_PACE_TARGET_SECONDS=str(base_ms * TARGET_SHARE / 1000),
        SIDECAR_JOB_ATTEMPTS="1000",
        SIDECAR_JOB_BACKOFF_SECONDS="0.05",
    )
    argv = sidecar_argv("worker", "--burst", "--queue", OPERATION)
    argv += ["--concurrency", str(per_worker)]
    bench.progress.say(f"n8n-capacity: {label}")
    procs = [bench.procs.start("worker", argv, env) for _ in range(workers)]
    wait_for_exit(bench, procs, lambda: bench.upstream.stats()["count"])
    stats, answers = bench.upstream.stats(), bench.upstream.answers()
    if stats["distinct"] != jobs or stats["duplicates"]:
        raise BenchError(f"{label}: {stats['distinct']} of {jobs} delivered")
    span = (stats["lastMs"] - stats["firstMs"]) / 1000
    inflight = answers["inflight"]
    settled = sorted(inflight[len(inflight) // 2 :]) or [0]
    bench.reset()
    return {
        "label": label,
        "in_flight_limit": in_flight,
        "goodput_per_s": (jobs - 1) / span if span > 0 else float("nan"),
        "answer_p95_ms": percentile(answers["answers"], 0.95),
        "status5xx": answers["status5xx"],
        "settled_in_flight": settled[len(settled) // 2],
    }


def rows(static: list[dict], adaptive: dict, k: int) -> list[Row]:
    """One row per static limit, then the adaptive pace against the best of them."""
    table = [
        Row(
            f"static {s['in_flight_limit']} in flight: goodput, n8n p95, 5xx",
            f"{per_second(s['goodput_per_s'])}, {ms(s['answer_p95_ms'])}, {s['status5xx']}",
        )
        for s in static
    ]
    best = max(static, key=lambda s: s["goodput_per_s"])
    settled = adaptive["settled_in_flight"]
    table += [
        Row(
            "adaptive pace: goodput, n8n p95, 5xx",
            f"{per_second(adaptive['goodput_per_s'])}, {ms(adaptive['answer_p95_ms'])}, "
            f"{adaptive['status5xx']}",
            f"{per_second(best['goodput_per_s'])} best static ({best['in_flight_limit']})",
            adaptive["goodput_per_s"] / best["goodput_per_s"],
            ">= best static",
            adaptive["goodput_per_s"] >= GOODPUT_SLACK * best["goodput_per_s"],
        ),
        Row(
            f"adaptive pace settles near K={k}",
            f"{settled} in flight (median, 2nd half)",
            target=f"K ± {SETTLE_BAND:.0%}, no 5xx storm",
            met=abs(settled - k) <= SETTLE_BAND * k and adaptive["status5xx"] <= k,
        ),
    ]
    return table


def run(bench: Bench) -> Outcome:
    """Static limits, then the adaptive pace, against the same stand-in capacity."""
    bench.upstream.require_node("n8n-capacity")
    k, base_ms, _ = SIZES[bench.options.smoke]
    bench.upstream.set_capacity(k, base_ms, OVERLOAD_SHARE * k)
    try:
        static = [
            run_once(bench, f"static {round(share * k)}", round(share * k), adaptive=False)
            for share in STATIC_SHARES[bench.options.smoke]
        ]
        adaptive = run_once(bench, "adaptive", 4 * k, adaptive=True)
    finally:
        bench.upstream.set_capacity(0, 0)
    figures = {"k": k, "base_ms": base_ms, "static": static, "adaptive": adaptive}
    return Outcome("n8n-capacity", rows(static, adaptive, k), figures)
