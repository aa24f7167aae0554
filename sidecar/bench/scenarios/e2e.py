"""End to end (queue mode): a steady `rate` of webhooks for `duration` seconds into a
queue-mode gateway with `workers` workers running; the latency from the moment each webhook
was due to its delivery at the upstream (measured there, from the `sentAt` stamp). Baseline:
the same paced load straight to the upstream. Target: p99 <= 50 ms (seed: < 100 ms)."""

from __future__ import annotations

from sidecar.bench.context import NO_LIMIT, Bench
from sidecar.bench.delivery_wait import wait_for_deliveries
from sidecar.bench.errors import BenchError
from sidecar.bench.load import Answer, send_closed_loop, send_paced
from sidecar.bench.report import Outcome, Row, ms
from sidecar.bench.stats import latency_summary_ms, milliseconds_summary, ratio

TARGET_P99_MS = 50.0
WARM_UP_WEBHOOKS = 50


def paced(bench: Bench, port: int, what: str) -> list[Answer]:
    """The steady load against `port`, with progress."""
    opts = bench.options
    total = max(1, round(opts.rate * opts.duration))
    with bench.progress.counting(what, total, "webhooks") as counter:
        return send_paced(port, opts.rate, opts.duration, opts.senders, counter)


def warm_up(bench: Bench, port: int) -> None:
    """A few webhooks through gateway and workers, delivered, before the clock starts:
    connections, imports and caches are then warm, as in a gateway that has been running."""
    count = WARM_UP_WEBHOOKS
    send_closed_loop(port, count, bench.options.senders, bench.options.timeout, expected=202)
    wait_for_deliveries(bench, count, "warm-up")
    bench.upstream.reset()


def through_queue(bench: Bench) -> dict:
    """Paced webhooks through a queue-mode gateway and running workers."""
    opts = bench.options
    gateway = bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT)
    workers = bench.start_workers(opts.workers, "--concurrency", str(opts.concurrency))
    try:
        warm_up(bench, gateway.port)
        answers = paced(bench, gateway.port, f"{opts.rate:g}/s into the gateway")
        refused = [answer for answer in answers if answer.status != 202]
        if refused:
            raise BenchError(f"the gateway answered {refused[0].status} to {len(refused)} webhooks")
        stats = wait_for_deliveries(bench, len(answers), "e2e")
    finally:
        bench.procs.stop(gateway.proc, *workers)
    return {
        "webhooks": len(answers),
        "duplicates": stats["duplicates"],
        "answer": latency_summary_ms([answer.latency for answer in answers]),
        "delivery": milliseconds_summary(bench.upstream.latencies_ms()),
    }


def straight_to_upstream(bench: Bench) -> dict:
    """The same paced load straight to the upstream: the floor of what HTTP costs here."""
    bench.upstream.reset()
    answers = paced(bench, bench.upstream.port, f"{bench.options.rate:g}/s to the upstream")
    return {
        "webhooks": len(answers),
        "delivery": milliseconds_summary(bench.upstream.latencies_ms()),
    }


def rows(queued: dict, direct: dict, rate: float) -> list[Row]:
    """The table rows."""
    ours, floor = queued["delivery"], direct["delivery"]
    return [
        Row(
            f"receipt to delivery p99 (p50), {rate:g}/s",
            f"{ms(ours['p99_ms'])} ({ms(ours['p50_ms'])})",
            f"{ms(floor['p99_ms'])} ({ms(floor['p50_ms'])}) straight to the upstream",
            ratio(ours["p99_ms"], floor["p99_ms"]),
            f"p99 <= {TARGET_P99_MS:g} ms",
            ours["p99_ms"] <= TARGET_P99_MS,
        ),
        Row(
            "202 answer p99 (p50)",
            f"{ms(queued['answer']['p99_ms'])} ({ms(queued['answer']['p50_ms'])})",
        ),
        Row(
            "delivered exactly once",
            f"{queued['webhooks']:,} of {queued['webhooks']:,}, {queued['duplicates']} duplicates",
            target="all, no duplicate",
            met=queued["duplicates"] == 0,
        ),
    ]


def run(bench: Bench) -> Outcome:
    """Queue mode end to end, then the direct baseline."""
    queued = through_queue(bench)
    bench.reset()
    direct = straight_to_upstream(bench)
    bench.reset()
    figures = {"queue": queued, "upstream_direct": direct, "rate_per_s": bench.options.rate}
    return Outcome("e2e", rows(queued, direct, bench.options.rate), figures)
