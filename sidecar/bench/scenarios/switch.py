"""Switch (auto mode): with thresholds shrunk to seconds, a steady `rate` of webhooks pushes
the webhook rate over its threshold. Measured: the time from the moment the crossing has
been sustained (crossing + SIDECAR_SUSTAIN_SECONDS: the earliest a switch may happen) to the
first answer in queue mode; and webhooks lost (accepted but never delivered, or refused) or
delivered twice across the switch — both must be 0. Baseline: the sustain period itself."""

from __future__ import annotations

import itertools

from sidecar.bench.context import NO_LIMIT, Bench
from sidecar.bench.delivery_wait import wait_for_deliveries
from sidecar.bench.errors import BenchError
from sidecar.bench.load import Answer, send_paced
from sidecar.bench.report import Outcome, Row
from sidecar.bench.stats import ratio

RATE_WINDOW_SECONDS = 6
THRESHOLD_PER_HOUR = 3600  # 6 webhooks in the 6 s window
MONITOR_INTERVAL_SECONDS = 0.25
LOAD_AFTER_SUSTAIN_SECONDS = 3.0
DRAIN_TIMEOUT_SECONDS = 60.0


def auto_settings(sustain: float) -> dict[str, str]:
    """Auto mode with the webhook-rate threshold in reach and the others out of it."""
    return {
        "SIDECAR_MODE": "auto",
        "SIDECAR_RATE_WINDOW_SECONDS": str(RATE_WINDOW_SECONDS),
        "SIDECAR_THRESHOLD_WEBHOOKS_PER_HOUR": str(THRESHOLD_PER_HOUR),
        "SIDECAR_THRESHOLD_EXEC_SECONDS": "30",
        "SIDECAR_THRESHOLD_MEMORY_PERCENT": "100",
        "SIDECAR_SUSTAIN_SECONDS": f"{sustain:g}",
        "SIDECAR_COOLDOWN_SECONDS": "3600",  # no switch back during the run
        "SIDECAR_MONITOR_INTERVAL_SECONDS": str(MONITOR_INTERVAL_SECONDS),
        "SIDECAR_USER_RATE_LIMIT": NO_LIMIT,
    }


def crossing_index() -> int:
    """The index of the webhook that puts the window's count over the threshold."""
    return int(THRESHOLD_PER_HOUR * RATE_WINDOW_SECONDS / 3600)


def mode_changes(answers: list[Answer]) -> int:
    """How many times the answers' X-Sidecar-Mode changed, in sending order."""
    return sum(1 for a, b in itertools.pairwise(answers) if a.mode != b.mode)


def timing(answers: list[Answer], sustain: float) -> dict:
    """Seconds from load start and from the sustained crossing to the first queue answer."""
    start, crossed = answers[0].due, answers[crossing_index()].due
    first_queued = next((a for a in answers if a.mode == "queue"), None)
    if first_queued is None:
        raise BenchError("the gateway never switched to queue mode")
    return {
        "load_start_to_queue_s": first_queued.due - start,
        "sustained_crossing_to_queue_s": first_queued.due - (crossed + sustain),
        "sustain_s": sustain,
        "answered_single": sum(1 for a in answers if a.mode == "single"),
        "answered_queue": sum(1 for a in answers if a.mode == "queue"),
        "mode_changes": mode_changes(answers),
    }


def integrity(bench: Bench, answers: list[Answer]) -> dict:
    """Refused, lost and duplicated webhooks once the queue has drained."""
    accepted = [a for a in answers if a.status in (200, 202)]
    stats = wait_for_deliveries(
        bench, len(accepted), "switch drain", DRAIN_TIMEOUT_SECONDS, strict=False
    )
    return {
        "sent": len(answers),
        "refused": len(answers) - len(accepted),
        "lost": max(0, len(accepted) - stats["distinct"]),
        "duplicated": stats["duplicates"],
    }


def rows(figures: dict) -> list[Row]:
    """The table rows."""
    delay, sustain = figures["sustained_crossing_to_queue_s"], figures["sustain_s"]
    lost = figures["lost"] + figures["refused"]
    return [
        Row(
            "sustained crossing to queue mode",
            f"{delay:.2f} s",
            f"{sustain:g} s sustain; load start to queue {figures['load_start_to_queue_s']:.2f} s",
            ratio(figures["load_start_to_queue_s"], sustain),
            f"<= monitor interval + 1 s ({MONITOR_INTERVAL_SECONDS + 1:g} s)",
            delay <= MONITOR_INTERVAL_SECONDS + 1,
        ),
        Row(
            "lost or refused across the switch",
            f"{lost} of {figures['sent']:,} ({figures['answered_single']} single, "
            f"{figures['answered_queue']} queued)",
            target="0",
            met=lost == 0,
        ),
        Row(
            "duplicated across the switch",
            f"{figures['duplicated']}, mode changes seen: {figures['mode_changes']}",
            target="0",
            met=figures["duplicated"] == 0,
        ),
    ]


def least_rate() -> int:
    """The lowest --rate that crosses the threshold within the first half second."""
    return 2 * (crossing_index() + 1)


def run(bench: Bench) -> Outcome:
    """Auto-mode gateway and a worker; steady load until well after the sustain period."""
    opts = bench.options
    sustain = 1.0 if opts.smoke else 2.0
    duration = sustain + (1.5 if opts.smoke else LOAD_AFTER_SUSTAIN_SECONDS)
    gateway = bench.start_gateway(**auto_settings(sustain))
    workers = bench.start_workers(
        1, "--concurrency", str(opts.concurrency), **auto_settings(sustain)
    )
    try:
        total = max(1, round(opts.rate * duration))
        with bench.progress.counting(f"{opts.rate:g}/s, auto mode", total, "webhooks") as counter:
            answers = send_paced(gateway.port, opts.rate, duration, opts.senders, counter)
        figures = {**timing(answers, sustain), **integrity(bench, answers)}
    finally:
        bench.procs.stop(gateway.proc, *workers)
    bench.reset()
    return Outcome("switch", rows(figures), figures)
