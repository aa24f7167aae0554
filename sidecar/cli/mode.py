"""`n8n-sidecar mode single|queue|auto` and `n8n-sidecar status [--json] [--watch]`."""

from __future__ import annotations

import json
import sys
import time

import click

from sidecar.backend.connection import connect, translate
from sidecar.backend.keys import keys_for
from sidecar.backend.queue_names import all_queues
from sidecar.cli.support import fail, settings_or_exit
from sidecar.errors import BackendUnavailable, ConfigError
from sidecar.mode.backlog import dead_letter_size
from sidecar.mode.controller import Thresholds
from sidecar.mode.local_store import open_store
from sidecar.mode.report import mode_report
from sidecar.mode.sources import signal_sources
from sidecar.queues.durability import read_durability
from sidecar.queues.overview import queue_counts
from sidecar.settings import Settings
from sidecar.status.sparkline import render_sparklines, signal_minutes
from sidecar.worker.registry import live_worker_count
from sidecar.worker.report import delivery_status, render_delivery

COLUMNS = ("waiting", "active", "delayed", "completed", "failed", "paused")


@click.command()
@click.argument("wanted", type=click.Choice(["single", "queue", "auto"]))
def mode(wanted: str) -> None:
    """Pin the mode of every gateway (single or queue), or let it switch by itself (auto)."""
    settings = settings_or_exit()
    try:
        store = open_store(connect(settings), keys_for(settings))
        view = store.unpin(by="cli") if wanted == "auto" else store.pin(wanted, by="cli")
    except ConfigError:
        fail("pinning the mode needs Redis (every gateway reads it there): set REDIS_URL", 2)
    except BackendUnavailable as exc:
        fail(str(exc), 1)
    pinned = "pinned" if view.pinned else "automatic"
    click.echo(f"mode {view.mode} ({pinned})")


CLEAR = "\x1b[H\x1b[2J"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--watch", is_flag=True, help="Redraw every --interval seconds, with signal sparklines."
)
@click.option(
    "--interval", type=click.FloatRange(0), default=2.0, show_default=True, help="With --watch."
)
@click.option(
    "--iterations", type=click.IntRange(0), default=0, help="With --watch: stop after N (0: never)."
)
def status(as_json: bool, watch: bool, interval: float, iterations: int) -> None:
    """Mode, why, signals against thresholds, queue counts, dead letters and live workers."""
    settings = settings_or_exit()
    if watch:
        watch_status(settings, interval, iterations)
        return
    try:
        report = collect_status(settings)
    except BackendUnavailable as exc:
        fail(str(exc), 1)
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))


def watch_status(settings: Settings, interval: float, iterations: int) -> None:
    """Redraw the status with sparklines every `interval` s, `iterations` times (0: until ^C).
    A Redis failure is shown and retried at the next redraw."""
    clear = CLEAR if sys.stdout.isatty() else "\n"
    drawn = 0
    try:
        while True:
            click.echo(clear + watch_screen(settings))
            drawn += 1
            if iterations and drawn >= iterations:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def watch_screen(settings: Settings) -> str:
    """One redraw: the status table and, with Redis, the last hour as sparklines."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    try:
        report = collect_status(settings)
        text = render_status(report)
        if settings.redis_configured:
            minutes = signal_minutes(connect(settings), keys_for(settings), time.time())
            text += "\n\n" + render_sparklines(minutes)
    except BackendUnavailable as exc:
        text = f"error: {exc}"
    return f"n8n-sidecar status  {stamp}  (Ctrl-C to stop)\n\n{text}"


def collect_status(settings: Settings) -> dict:
    """Everything `status` shows, as one dict."""
    client = connect(settings) if settings.redis_configured else None
    thresholds, sources = Thresholds.from_settings(settings), signal_sources(settings)
    report = mode_report(open_store(client, keys_for(settings)), thresholds, sources=sources)
    if client is None:
        none = ("queues", "deadLetters", "liveWorkers", "durability", "delivery")
        return {**report, **dict.fromkeys(none)}
    counts = queue_counts(client, all_queues(settings.queue_prefix))
    with translate():
        durability = read_durability(client).to_json()
        delivery = delivery_status(client, keys_for(settings))
    return {
        **report,
        "queues": counts,
        "deadLetters": dead_letter_size(client, settings.queue_prefix),
        "liveWorkers": live_worker_count(client, keys_for(settings)),
        "durability": durability,
        "delivery": delivery,
    }


def signal_line(name: str, signal: dict) -> str:
    """One signal of the table; a blind signal's value says what to set instead of a number."""
    number = signal["value"]
    value = "-" if number is None else f"{number:.3g}" if abs(number) < 10 else f"{number:.1f}"
    state = signal["note"] if signal.get("note") else signal["state"]
    source = signal.get("source") or "-"
    return (
        f"{name:22}{value:>12}{signal['threshold']:>12g}{signal['recoveryBelow']:>12g}"
        f"  {source:14}{state}{' (' + signal['error'] + ')' if signal.get('error') else ''}"
    )


def render_status(report: dict) -> str:
    """The readable table."""
    pinned = f"pinned by {report.get('pinnedBy') or 'config'}" if report["pinned"] else "automatic"
    lines = [
        f"mode      {report['mode']} ({pinned}) since {report.get('since') or '-'}",
        f"reason    {report.get('reason') or '-'}",
        "",
        f"{'signal':22}{'value':>12}{'threshold':>12}{'recovery':>12}  {'source':14}state",
    ]
    for name, signal in report["signals"].items():
        lines.append(signal_line(name, signal))
    if report["queues"] is None:
        return "\n".join([*lines, "", "queues    no Redis configured (single mode only)"])
    lines += ["", f"{'queue':32}" + "".join(f"{c:>11}" for c in COLUMNS)]
    for name, row in report["queues"].items():
        lines.append(f"{name:32}" + "".join(f"{row[c]!s:>11}" for c in COLUMNS))
    lines += [
        "",
        f"dead letters  {report['deadLetters']}",
        f"live workers  {report['liveWorkers']}",
        *render_durability(report.get("durability")),
        *([render_delivery(report["delivery"])] if report.get("delivery") else []),
    ]
    return "\n".join(lines)


def render_durability(durability: dict | None) -> list[str]:
    """The lines saying what a 202 means on this Redis, warnings last and loud."""
    if not durability:
        return []
    settings = (
        f"appendonly {durability['appendonly']}, appendfsync {durability['appendfsync']}, "
        f"maxmemory-policy {durability['maxmemoryPolicy']}, replicas {durability['replicas']}"
    )
    lines = ["", f"redis         {durability['redisVersion']}: {settings}"]
    lines.append(f"a 202 is      {durability['guarantee']}")
    lines += [f"WARNING       {warning}" for warning in durability["warnings"]]
    return lines
