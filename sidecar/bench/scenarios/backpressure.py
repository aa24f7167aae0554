"""Backpressure: a queue-mode gateway with SIDECAR_MAX_WAITING, one worker draining at the
pace of a stand-in that takes 20 ms per answer, already draining a backlog, then a burst of
three times SIDECAR_MAX_WAITING webhooks. Required: every sender gets 202 or 503 with a
Retry-After; 0 accepted-then-lost (every 202 delivered, once); each Retry-After within 2x
of the real time until there was room for that sender — the time the backlog that was
waiting when it was refused took to drain (sampled at the stand-in)."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sidecar.backend.rq_layout import queue_key
from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.delivery_wait import wait_for_deliveries
from sidecar.bench.jobs import captured_webhook, prefill
from sidecar.bench.load import SEND_HEADERS, SEQUENCE, WEBHOOK_PATH, webhook_body
from sidecar.bench.report import Outcome, Row
from sidecar.bench.stats import percentile

SIZES = {False: (2000, 3.0), True: (400, 1.5)}  # SIDECAR_MAX_WAITING, seconds draining first
ANSWER_MS = 20.0
CONCURRENCY = 4
SAMPLE_SECONDS = 0.02
ACCURACY = 2.0


@dataclass(frozen=True)
class Refusal:
    """One answer to a burst sender: when (monotonic), status, Retry-After (s, 0: none)."""

    at: float
    status: int
    retry_after: int


def burst(port: int, count: int, senders: int) -> list[Refusal]:
    """`count` webhooks as fast as `senders` connections take them; every answer."""
    shares = [count // senders + (1 if i < count % senders else 0) for i in range(senders)]

    def send(share: int) -> list[Refusal]:
        conn, answers = http.client.HTTPConnection("127.0.0.1", port, timeout=30), []
        for _ in range(share):
            body = webhook_body(next(SEQUENCE), time.time())
            conn.request("POST", WEBHOOK_PATH, body=body, headers=SEND_HEADERS)
            response = conn.getresponse()
            response.read()
            retry = response.getheader("Retry-After") or "0"
            answers.append(Refusal(time.monotonic(), response.status, int(retry)))
        conn.close()
        return answers

    with ThreadPoolExecutor(senders) as pool:
        return [a for part in pool.map(send, shares) for a in part]


def sample(bench: Bench, samples: list, stop: threading.Event) -> None:
    """(monotonic time, jobs waiting, deliveries so far) every SAMPLE_SECONDS."""
    while not stop.is_set():
        waiting = bench.client.llen(queue_key(QUEUE))
        samples.append((time.monotonic(), waiting, bench.upstream.stats()["count"]))
        time.sleep(SAMPLE_SECONDS)


def time_until_room(samples: list, at: float) -> float | None:
    """Seconds from `at` until the jobs waiting then were delivered (None: not seen)."""
    start = next((s for s in samples if s[0] >= at), None)
    if start is None:
        return None
    _, waiting, delivered = start
    end = next((s for s in samples if s[0] >= at and s[2] >= delivered + waiting), None)
    return None if end is None else end[0] - at


def accuracy(samples: list, refused: list[Refusal]) -> list[float]:
    """Retry-After / real time until room, per refusal that saw its room come."""
    ratios = []
    for refusal in refused:
        real = time_until_room(samples, refusal.at)
        if real:
            ratios.append(refusal.retry_after / real)
    return ratios


def against_a_full_queue(bench: Bench) -> dict:
    """Drain a backlog, burst into it, then wait for every accepted webhook."""
    most, warm = SIZES[bench.options.smoke]
    bench.upstream.require_node("backpressure")
    bench.upstream.set_capacity(1_000_000, ANSWER_MS)
    prefilled = most // 2
    prefill(bench, [captured_webhook(next(SEQUENCE)).to_payload() for _ in range(prefilled)])
    gateway = bench.start_gateway(
        SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT, SIDECAR_MAX_WAITING=str(most)
    )
    workers = bench.start_workers(1, "--concurrency", str(CONCURRENCY))
    samples: list = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(bench, samples, stop), daemon=True)
    try:
        sampler.start()
        time.sleep(warm)  # the queue drains at its own pace before the burst
        bench.progress.say(f"backpressure: burst of {3 * most} into {most} places")
        answers = burst(gateway.port, 3 * most, bench.options.senders)
        accepted = sum(1 for a in answers if a.status == 202)
        stats = wait_for_deliveries(bench, prefilled + accepted, "accepted", strict=False)
    finally:
        stop.set()
        sampler.join()
        bench.procs.stop(gateway.proc, *workers)
        bench.upstream.set_capacity(0, 0)
    refused = [a for a in answers if a.status == 503]
    honest = all(a.status == 202 or (a.status == 503 and a.retry_after > 0) for a in answers)
    ratios = accuracy(samples, refused)
    bench.reset()
    return {
        "max_waiting": most,
        "sent": len(answers),
        "accepted": accepted,
        "refused": len(refused),
        "honest": honest,
        "lost": prefilled + accepted - stats["distinct"],
        "duplicates": stats["duplicates"],
        "retry_after_ratio_p50": percentile(ratios, 0.5) if ratios else float("nan"),
        "retry_after_ratio_min": min(ratios, default=float("nan")),
        "retry_after_ratio_max": max(ratios, default=float("nan")),
        "within_2x": sum(1 / ACCURACY <= r <= ACCURACY for r in ratios),
        "judged": len(ratios),
    }


def rows(f: dict) -> list[Row]:
    """The table rows."""
    return [
        Row(
            f"burst of {f['sent']:,} into {f['max_waiting']:,} places: 202 / 503+Retry-After",
            f"{f['accepted']:,} / {f['refused']:,}",
            target="every answer one of them",
            met=f["honest"] and f["accepted"] + f["refused"] == f["sent"],
        ),
        Row(
            "accepted then lost / duplicated",
            f"{f['lost']} / {f['duplicates']}",
            target="0 / 0",
            met=f["lost"] == 0 and f["duplicates"] == 0,
        ),
        Row(
            "Retry-After / real time until room (p50, min-max)",
            f"{f['retry_after_ratio_p50']:.2f} ({f['retry_after_ratio_min']:.2f}-"
            f"{f['retry_after_ratio_max']:.2f}), {f['within_2x']}/{f['judged']} within 2x",
            target="within 2x",
            met=f["judged"] > 0 and f["within_2x"] == f["judged"],
        ),
    ]


def run(bench: Bench) -> Outcome:
    """One burst against a full queue."""
    figures = against_a_full_queue(bench)
    return Outcome("backpressure", rows(figures), figures)
