"""n8n outage: a steady 50 webhooks/s into a queue-mode gateway with workers running, and
the n8n stand-in down (refusing connections, open ones cut) for 60 s in the middle, then
back. Required: 0 dead-lettered, 0 lost, 0 duplicated. Reported: the time from the
stand-in listening again to the backlog drained (nothing waiting), and the attempts spent
per job (the workers run the default 3 attempts with 2 s backoff, which an outage used to
burn in 6 s)."""

from __future__ import annotations

import threading
import time

from sidecar.backend.rq_layout import JOB_PREFIX, queue_key, registry_key
from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.delivery_wait import wait_for_deliveries
from sidecar.bench.errors import BenchError
from sidecar.bench.load import send_paced
from sidecar.bench.report import Outcome, Row
from sidecar.queues.deadletters.entries import dlq_key

RATE = 50.0
SIZES = {False: (10.0, 60.0, 10.0), True: (1.0, 2.0, 1.0)}  # before, down, after (smoke)
POLL_SECONDS = 0.05


def backlog(bench: Bench) -> int:
    """Jobs waiting or scheduled for a retry."""
    with bench.client.pipeline(transaction=False) as pipe:
        pipe.llen(queue_key(QUEUE))
        pipe.zcard(registry_key("scheduled", QUEUE))
        return sum(pipe.execute())


def watch_drain(bench: Bench, up_at: float, result: dict, stop: threading.Event) -> None:
    """After `up_at` (monotonic), note when nothing is waiting any more."""
    while not stop.is_set():
        now = time.monotonic()
        if now >= up_at and backlog(bench) == 0:
            result["drained_after_s"] = now - up_at
            return
        result["peak_backlog"] = max(result.get("peak_backlog", 0), backlog(bench))
        time.sleep(POLL_SECONDS)


def attempts(bench: Bench) -> list[int]:
    """sidecar_attempt of every job hash."""
    keys = list(bench.client.scan_iter(match=JOB_PREFIX + "*", count=1000))
    with bench.client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "sidecar_attempt")
        return [int(v or 0) for v in pipe.execute()]


def dead_lettered(bench: Bench) -> int:
    """Jobs failed, and entries on the dead-letter queue."""
    failed = bench.client.zcard(registry_key("failed", QUEUE))
    letters = bench.client.llen(dlq_key(bench.settings))
    return failed + letters


def through_outage(bench: Bench) -> dict:
    """The load, the outage in its middle, then every accepted webhook delivered."""
    before, down, after = SIZES[bench.options.smoke]
    bench.upstream.require_node("n8n-outage")
    gateway = bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT)
    workers = bench.start_workers(
        bench.options.workers,
        "--concurrency",
        str(bench.options.concurrency),
        SIDECAR_KEEP_COMPLETED_COUNT=NO_LIMIT,
    )
    drain: dict = {}
    stop = threading.Event()
    up_at = time.monotonic() + before + down

    def outage() -> None:
        bench.upstream.go_down(down)
        threading.Thread(target=watch_drain, args=(bench, up_at, drain, stop), daemon=True).start()

    timer = threading.Timer(before, outage)
    try:
        timer.start()
        total = round(RATE * (before + down + after))
        with bench.progress.counting(f"{RATE:g}/s, n8n down {down:g} s", total, "webhooks") as c:
            answers = send_paced(
                gateway.port, RATE, before + down + after, bench.options.senders, c
            )
        accepted = [a for a in answers if a.status == 202]
        if len(accepted) != len(answers):
            raise BenchError(f"the gateway refused {len(answers) - len(accepted)} webhooks")
        stats = wait_for_deliveries(bench, len(accepted), "after the outage")
        deadline = time.monotonic() + bench.options.timeout
        while "drained_after_s" not in drain and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    finally:
        timer.cancel()
        stop.set()
        bench.procs.stop(gateway.proc, *workers)
    spent = attempts(bench)
    return {
        "webhooks": len(accepted),
        "down_s": down,
        "delivered": stats["distinct"],
        "duplicates": stats["duplicates"],
        "dead_lettered": dead_lettered(bench),
        "drained_after_s": drain.get("drained_after_s", float("nan")),
        "peak_backlog": drain.get("peak_backlog", 0),
        "attempts_mean": sum(spent) / len(spent) if spent else 0.0,
        "attempts_max": max(spent, default=0),
    }


def rows(f: dict) -> list[Row]:
    """The table rows."""
    lost = f["webhooks"] - f["delivered"]
    return [
        Row(
            f"n8n down {f['down_s']:g} s at {RATE:g}/s: dead-lettered / lost / duplicated",
            f"{f['dead_lettered']} / {lost} / {f['duplicates']} of {f['webhooks']:,}",
            target="0 / 0 / 0",
            met=f["dead_lettered"] == 0 and lost == 0 and f["duplicates"] == 0,
        ),
        Row(
            "n8n ready to backlog drained",
            f"{f['drained_after_s']:.1f} s (peak backlog {f['peak_backlog']:,})",
        ),
        Row(
            "attempts per job (mean, max)",
            f"{f['attempts_mean']:.3f}, {f['attempts_max']}",
            target="held jobs spend none",
        ),
    ]


def run(bench: Bench) -> Outcome:
    """One outage under steady load."""
    figures = through_outage(bench)
    bench.reset()
    return Outcome("n8n-outage", rows(figures), figures)
