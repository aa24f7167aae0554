"""Ingest (queue mode): webhooks accepted durably (202) per second through a real gateway, by
`senders` keep-alive connections, with the guards on (unique ids pass dedup; the per-user
limit is out of reach but still counted). Baselines from the same run: the same senders
straight to the upstream (what this machine's HTTP load allows), and in-process stores
without HTTP — the sidecar's intake against vanilla RQ's `Queue.enqueue`.
Target: >= 3,000/s with p99 <= 20 ms on 2 cores."""

from __future__ import annotations

import time

from rq import Queue
from rq.serializers import JSONSerializer

from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.jobs import captured_webhook, waiting_jobs
from sidecar.bench.load import SEQUENCE, send_closed_loop
from sidecar.bench.report import Outcome, Row, ms, per_second
from sidecar.bench.stats import latency_summary_ms, ratio
from sidecar.bench.usage import gateway_rss, tree_cpu_seconds
from sidecar.queues.intake import Intake
from sidecar.queues.jobs import DELIVER_FUNC

TARGET_RATE = 3000
TARGET_P99_MS = 20.0


def through_gateway(bench: Bench, count: int) -> dict:
    """`count` webhooks into a queue-mode gateway: rate, latencies, CPU and RSS."""
    opts = bench.options
    gateway = bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT)
    try:
        warmup = max(opts.senders, count // 10)
        send_closed_loop(gateway.port, warmup, opts.senders, opts.timeout, expected=202)
        cpu_before = tree_cpu_seconds(gateway.proc.pid)
        with bench.progress.counting("through the gateway", count, "webhooks") as counter:
            answers, elapsed = send_closed_loop(
                gateway.port, count, opts.senders, opts.timeout, counter, expected=202
            )
        cpu = tree_cpu_seconds(gateway.proc.pid) - cpu_before
        figures = {
            "webhooks": len(answers),
            "rate_per_s": len(answers) / elapsed,
            **latency_summary_ms([answer.latency for answer in answers]),
            "gateway_cpu_us_per_webhook": cpu / count * 1e6,
            **gateway_rss(gateway.proc.pid),
        }
    finally:
        bench.procs.stop(gateway.proc)
    stored = waiting_jobs(bench.client)
    if stored != warmup + count:
        raise BenchError(f"the gateway answered 202 {warmup + count} times but stored {stored}")
    return figures


def straight_to_upstream(bench: Bench, count: int) -> dict:
    """The same senders against the upstream: the HTTP ceiling of this load generator."""
    opts = bench.options
    answers, elapsed = send_closed_loop(
        bench.upstream.port, count, opts.senders, opts.timeout, expected=200
    )
    return {
        "rate_per_s": len(answers) / elapsed,
        **latency_summary_ms([a.latency for a in answers]),
    }


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


def rows(gateway: dict, direct: dict, local: dict) -> list[Row]:
    """The table rows."""
    return [
        Row(
            "accepted (202) webhooks/s",
            per_second(gateway["rate_per_s"]),
            f"{per_second(direct['rate_per_s'])} same senders to the upstream",
            ratio(gateway["rate_per_s"], direct["rate_per_s"]),
            f">= {TARGET_RATE:,}/s",
            gateway["rate_per_s"] >= TARGET_RATE,
        ),
        Row(
            "latency p99 (p50)",
            f"{ms(gateway['p99_ms'])} ({ms(gateway['p50_ms'])})",
            f"{ms(direct['p99_ms'])} ({ms(direct['p50_ms'])}) upstream",
            ratio(gateway["p99_ms"], direct["p99_ms"]),
            f"p99 <= {TARGET_P99_MS:g} ms",
            gateway["p99_ms"] <= TARGET_P99_MS,
        ),
        Row("gateway CPU per webhook", f"{gateway['gateway_cpu_us_per_webhook']:,.0f} us"),
        Row(
            "in-process store, no HTTP",
            per_second(local["intake_per_s"]),
            f"{per_second(local['rq_enqueue_per_s'])} RQ Queue.enqueue",
            ratio(local["intake_per_s"], local["rq_enqueue_per_s"]),
        ),
    ]


def run(bench: Bench) -> Outcome:
    """Gateway ingest and its baselines."""
    count = bench.options.jobs
    gateway = through_gateway(bench, count)
    bench.reset()
    direct = straight_to_upstream(bench, count)
    bench.progress.say("ingest: in-process stores (intake, then RQ Queue.enqueue)")
    local = in_process(bench, count)
    bench.reset()
    figures = {"gateway": gateway, "upstream_direct": direct, "in_process": local}
    return Outcome("ingest", rows(gateway, direct, local), figures)
