"""Redis down (SIGTERM) for `redis_down_s` under load: the gateway passes webhooks straight
to n8n (single-mode fallback), nothing is lost. Then Redis and n8n both down: every
webhook is answered 503 + Retry-After (the sender keeps it and retries)."""

from __future__ import annotations

import time

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import FaultLoad
from sidecar.bench.faults.figures import Figures, count, delivered
from sidecar.bench.faults.parts import (
    READ_TIMEOUT_S,
    RECOVERY_SETTINGS,
    SENDERS,
    Sizes,
    fault_redis,
    queue_gateway,
    sleep_until,
    start_workers,
)
from sidecar.bench.stats import latency_summary_ms
from sidecar.harness.ports import free_port
from sidecar.harness.redis_server import RedisServer

REQUIREMENT = "0 lost (single-mode fallback)"
BOTH_REQUIREMENT = "every webhook 503 + Retry-After"


def run(bench: Bench, sizes: Sizes) -> list[Figures]:
    """Redis down, then Redis and n8n down."""
    server = fault_redis(bench.procs)
    settings = {"REDIS_URL": server.url, **RECOVERY_SETTINGS}
    try:
        first = redis_down(bench, sizes, server, settings)
        server.stop()
        return [first, both_down(bench, sizes, settings)]
    finally:
        server.stop()


def redis_down(bench: Bench, sizes: Sizes, server: RedisServer, settings: dict) -> Figures:
    """Stop Redis, start it again `redis_down_s` later; load throughout."""
    client = server.client(socket_timeout=READ_TIMEOUT_S)
    gateway = queue_gateway(bench, **settings)
    workers = start_workers(bench, bench.options.workers, client, **settings)
    duration = sizes.redis_down_s + 2 * sizes.around_s
    load = FaultLoad([gateway.port], sizes.rate, duration, SENDERS).start()
    try:
        sleep_until(load.started_at, sizes.around_s)
        server.stop()
        stopped = time.time()
        sleep_until(stopped, sizes.redis_down_s)
        server.start()
        back = time.time()
        outcomes = load.wait()
        seen, _, duplicates = delivered(bench, outcomes, sizes.drain_s)
    finally:
        bench.procs.stop(gateway.proc, *workers)
        client.close()
    figures = count(
        Figures(f"redis down {sizes.redis_down_s:g} s", REQUIREMENT), outcomes, seen, duplicates
    )
    down = [o for o in outcomes if stopped <= o.due <= back]
    queued_after = [o.answered for o in outcomes if o.status == 202 and o.due > back]
    figures.recovery_s = (min(queued_after) - back) if queued_after else None
    figures.extra = {"answer_during_outage": latency_summary_ms([o.answered - o.due for o in down])}
    figures.met = figures.lost == 0 and figures.no_answer == 0
    figures.notes += [
        f"{figures.passed_through} passed straight to n8n while Redis was down",
        "recovery: Redis back to the first 202 again",
        "answer time while down (due to answered, ms): "
        + ", ".join(f"{k} {v:.0f}" for k, v in figures.extra["answer_during_outage"].items()),
    ]
    return figures


def both_down(bench: Bench, sizes: Sizes, settings: dict) -> Figures:
    """Redis stopped and n8n unreachable (nothing listens at N8N_URL)."""
    dead_n8n = f"http://127.0.0.1:{free_port()}"
    gateway = queue_gateway(bench, **{**settings, "N8N_URL": dead_n8n})
    try:
        load = FaultLoad([gateway.port], sizes.rate, sizes.both_down_s, SENDERS).start()
        outcomes = load.wait()
    finally:
        bench.procs.stop(gateway.proc)
    figures = count(Figures("redis and n8n down", BOTH_REQUIREMENT), outcomes, set(), 0)
    figures.met = figures.refused_with_retry_after == figures.sent
    figures.notes.append("nothing can take a webhook: the sender is told to retry")
    return figures
