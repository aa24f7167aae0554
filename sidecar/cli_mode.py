"""`n8n-sidecar mode single|queue|auto` and `n8n-sidecar status [--json]`."""

from __future__ import annotations

import json

import click

from sidecar.cli_support import fail, settings_or_exit
from sidecar.errors import BackendUnavailable, ConfigError
from sidecar.mode.backlog import dead_letter_size
from sidecar.mode.controller import Thresholds
from sidecar.mode.local_store import open_store
from sidecar.mode.report import mode_report
from sidecar.queues.connection import connect, translate
from sidecar.queues.gauges import live_worker_count
from sidecar.queues.names import all_queues
from sidecar.queues.overview import queue_counts
from sidecar.settings import Settings
from sidecar.worker.report import delivery_status, render_delivery

COLUMNS = ("waiting", "active", "delayed", "completed", "failed", "paused")


@click.command()
@click.argument("wanted", type=click.Choice(["single", "queue", "auto"]))
def mode(wanted: str) -> None:
    """Pin the mode of every gateway (single or queue), or let it switch by itself (auto)."""
    settings = settings_or_exit()
    try:
        store = open_store(connect(settings))
        view = store.unpin(by="cli") if wanted == "auto" else store.pin(wanted, by="cli")
    except ConfigError:
        fail("pinning the mode needs Redis (every gateway reads it there): set REDIS_URL", 2)
    except BackendUnavailable as exc:
        fail(str(exc), 1)
    pinned = "pinned" if view.pinned else "automatic"
    click.echo(f"mode {view.mode} ({pinned})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Mode, why, signals against thresholds, queue counts, dead letters and live workers."""
    settings = settings_or_exit()
    try:
        report = collect_status(settings)
    except BackendUnavailable as exc:
        fail(str(exc), 1)
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))


def collect_status(settings: Settings) -> dict:
    """Everything `status` shows, as one dict."""
    client = connect(settings) if settings.redis_configured else None
    report = mode_report(open_store(client), Thresholds.from_settings(settings))
    if client is None:
        return {**report, "queues": None, "deadLetters": None, "liveWorkers": None}
    counts = queue_counts(client, all_queues(settings.queue_prefix))
    with translate():
        delivery = delivery_status(client)
    return {
        **report,
        "queues": counts,
        "deadLetters": dead_letter_size(client, settings.queue_prefix),
        "liveWorkers": live_worker_count(client),
        "delivery": delivery,
    }


def render_status(report: dict) -> str:
    """The readable table."""
    pinned = f"pinned by {report.get('pinnedBy') or 'config'}" if report["pinned"] else "automatic"
    lines = [
        f"mode      {report['mode']} ({pinned}) since {report.get('since') or '-'}",
        f"reason    {report.get('reason') or '-'}",
        "",
        f"{'signal':20}{'value':>12}{'threshold':>12}{'recovery':>12}  state",
    ]
    for name, signal in report["signals"].items():
        value = "-" if signal["value"] is None else f"{signal['value']:.1f}"
        lines.append(
            f"{name:20}{value:>12}{signal['threshold']:>12g}{signal['recoveryBelow']:>12g}"
            f"  {signal['state']}{' (' + signal['error'] + ')' if signal.get('error') else ''}"
        )
    if report["queues"] is None:
        return "\n".join([*lines, "", "queues    no Redis configured (single mode only)"])
    lines += ["", f"{'queue':32}" + "".join(f"{c:>11}" for c in COLUMNS)]
    for name, row in report["queues"].items():
        lines.append(f"{name:32}" + "".join(f"{row[c]!s:>11}" for c in COLUMNS))
    lines += [
        "",
        f"dead letters  {report['deadLetters']}",
        f"live workers  {report['liveWorkers']}",
        render_delivery(report["delivery"]),
    ]
    return "\n".join(lines)
