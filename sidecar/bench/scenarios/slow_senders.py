"""slow-senders (single mode): `--crowd` connections trickle a request at 1 byte a second
for `--crowd-seconds` — half their headers, half their body — while a normal webhook is
sent about once a second on a new connection; first straight to the upstream (baseline),
then to a single-mode gateway. Targets (issue 13): the normal webhook answered within 2 x
its quiet latency (median; none left without an answer within 5 s), and every trickler
closed by the server's read deadlines."""

from __future__ import annotations

import os
import time

from sidecar.bench.context import Bench
from sidecar.bench.limits import raise_open_files
from sidecar.bench.probe import PROBE_TIMEOUT, quiet_probes, scheduled_probes, summary
from sidecar.bench.report import Outcome, Row
from sidecar.bench.stats import ratio
from sidecar.bench.trickle import Trickle
from sidecar.bench.usage import open_connections

QUIET_PROBES = 20
SMOKE_QUIET_PROBES = 5
SETTLE_SECONDS = 3.0  # the tricklers are all open before the first probe
PROBE_EVERY = 1.0
TARGET_FACTOR = 2.0
JOIN_SPARE_SECONDS = 30.0


def measure(bench: Bench, port: int) -> dict:
    """The quiet probes, then the trickle with probes during it, on one side."""
    seconds = bench.options.crowd_seconds
    quiet = quiet_probes(port, SMOKE_QUIET_PROBES if bench.options.smoke else QUIET_PROBES)
    load_before = os.getloadavg()[0]
    trickle = Trickle(port, bench.options.crowd // 2, seconds).start()
    settle = min(SETTLE_SECONDS, seconds / 4)
    time.sleep(settle)
    connections = open_connections(port)
    during = scheduled_probes(port, 0.0, seconds - settle - PROBE_TIMEOUT, PROBE_EVERY)
    tricklers = trickle.join(seconds + JOIN_SPARE_SECONDS)
    return {
        "quiet": summary(quiet),
        "during": summary(during),
        "open_connections": connections,
        "tricklers": tricklers,
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def closed_text(kind: dict) -> str:
    """'N of M (median after S s)' for one kind of trickler."""
    text = f"{kind['closed_by_server']:,} of {kind['opened']:,}"
    if kind["median_close_s"] is not None:
        text += f", median after {kind['median_close_s']:.1f} s"
    return text + (f", {kind['refused']:,} refused" if kind["refused"] else "")


def probe_text(side: dict) -> str:
    """'median / max ms, K of N unanswered' of the probes during the trickle."""
    during = side["during"]
    if during["no_answer"] == during["probes"]:
        return f"no answer within {PROBE_TIMEOUT:g} s ({during['probes']} of {during['probes']})"
    return (
        f"{during['median_ms']:.1f} / {during['max_ms']:.0f} ms, "
        f"{during['no_answer']} of {during['probes']} unanswered"
    )


def rows(ours: dict, direct: dict, crowd: int) -> list[Row]:
    """The normal webhook, quiet and during the trickle; the tricklers closed."""
    quiet, during = ours["quiet"]["median_ms"], ours["during"]["median_ms"]
    answered = ours["during"]["no_answer"] == 0
    table = [
        Row(
            "normal webhook, quiet (median)",
            f"{quiet:.1f} ms",
            f"{direct['quiet']['median_ms']:.1f} ms direct",
            ratio(quiet, direct["quiet"]["median_ms"]),
        ),
        Row(
            f"same while {crowd:,} connections trickle (median / max)",
            probe_text(ours),
            f"{quiet:.1f} ms quiet; direct: {probe_text(direct)}",
            ratio(during, quiet),
            f"<= {TARGET_FACTOR:g}x quiet, all answered in {PROBE_TIMEOUT:g} s",
            answered and during <= TARGET_FACTOR * quiet,
        ),
    ]
    for kind in ("headers", "body"):
        mine, theirs = ours["tricklers"][kind], direct["tricklers"][kind]
        table.append(
            Row(
                f"{kind} tricklers closed by the server",
                closed_text(mine),
                f"{closed_text(theirs)} direct",
                target="all, by the read deadline",
                met=0 < mine["opened"] == mine["closed_by_server"],
            )
        )
    return table


def deadline_seconds(trickle_seconds: float) -> float:
    """The gateway's read deadlines for a trickle of `trickle_seconds`: the defaults (10 s
    headers, 30 s body) when they fit, else a third of the trickle (at least 0.5 s)."""
    return min(10.0, max(0.5, round(trickle_seconds / 3, 1)))


def run(bench: Bench) -> Outcome:
    """The trickle straight to the upstream, then against a single-mode gateway."""
    crowd, seconds = bench.options.crowd, bench.options.crowd_seconds
    raise_open_files(crowd)
    deadline = f"{deadline_seconds(seconds):g}"  # shorter than the trickle, so it can close them
    gateway = bench.start_gateway(
        SIDECAR_MODE="single",
        SIDECAR_HEADER_TIMEOUT_SECONDS=deadline,
        SIDECAR_BODY_TIMEOUT_SECONDS=deadline,
    )
    try:
        bench.progress.say(f"slow-senders: {crowd:,} tricklers for {seconds:g} s straight to n8n")
        direct = measure(bench, bench.upstream.port)
        bench.progress.say(
            f"slow-senders: {crowd:,} tricklers for {seconds:g} s to the gateway "
            f"(header and body deadlines {deadline} s)"
        )
        ours = measure(bench, gateway.port)
    finally:
        bench.procs.stop(gateway.proc)
    figures = {"direct": direct, "sidecar": ours, "connections": crowd, "seconds": seconds}
    return Outcome("slow-senders", rows(ours, direct, crowd), figures)
