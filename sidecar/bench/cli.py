"""`n8n-sidecar bench` (and `scripts/bench.py`): options in, a table and JSON out.

Exit codes: 0 measured (a missed target is a figure, not a failure), 1 the run could not
go on (the reason in one line), 2 bad options, 130 interrupted."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from sidecar.bench.options import SCENARIOS, Options


@click.command()
@click.option(
    "--scenario",
    "-s",
    "scenarios",
    multiple=True,
    type=click.Choice(SCENARIOS),
    help="Run only this scenario (repeatable; default: all, in the order listed).",
)
@click.option(
    "--requests",
    type=click.IntRange(10),
    default=Options.requests,
    show_default=True,
    help="passthrough: requests per side.",
)
@click.option(
    "--jobs",
    type=click.IntRange(2),
    default=Options.jobs,
    show_default=True,
    help="ingest, deliver, memory: webhooks / jobs.",
)
@click.option(
    "--senders",
    type=click.IntRange(1, 256),
    default=Options.senders,
    show_default=True,
    help="Concurrent keep-alive connections.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=Options.workers,
    show_default=True,
    help="Worker processes per side.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=Options.concurrency,
    show_default=True,
    help="Deliveries in flight per n8n-sidecar worker.",
)
@click.option(
    "--rate",
    type=click.FloatRange(1, 100000),
    default=Options.rate,
    show_default=True,
    help="e2e and switch: steady webhooks per second.",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.5, 3600),
    default=Options.duration,
    show_default=True,
    help="e2e: seconds of steady load.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(5, 7200),
    default=Options.timeout,
    show_default=True,
    help="Seconds per phase, at most.",
)
@click.option(
    "--smoke", is_flag=True, help="Tiny counts: every scenario in seconds (what the tests run)."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every figure to this file.",
)
def bench(scenarios: tuple[str, ...], smoke: bool, json_path: Path | None, **sizes: float) -> None:
    """Measure the sidecar against baselines from the same run (all on 127.0.0.1)."""
    from sidecar.bench.procs import BenchError
    from sidecar.bench.progress import Progress
    from sidecar.bench.report import render_table, write_json
    from sidecar.bench.runner import run

    options = Options(scenarios=tuple(scenarios) or SCENARIOS, **sizes)
    options = options.smoke_sized() if smoke else options
    progress = Progress()
    try:
        environment, outcomes = run(options, progress)
    except BenchError as exc:
        click.echo(f"bench: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("bench: interrupted", err=True)
        sys.exit(130)
    click.echo(render_table(outcomes))
    if json_path:
        write_json(json_path, environment, dataclasses.asdict(options), outcomes)
        progress.say(f"figures written to {json_path}")
