"""`n8n-sidecar bench` (and `scripts/bench.py`): options in, a table and JSON out.

Exit codes: 0 measured (a missed target is a figure, not a failure), 1 the run could not
go on (the reason in one line), 2 bad options, 130 interrupted."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import click

from sidecar.bench.options import CHOICES, FAULTS, SCENARIOS, Options

# The sizes of a run: option, accepted values, help. Defaults come from Options.
SIZES = (
    ("requests", click.IntRange(10), "passthrough without wrk: requests per side."),
    ("jobs", click.IntRange(2), "ingest, deliver, memory: webhooks / jobs."),
    ("senders", click.IntRange(1, 256), "Keep-alive connections (wrk: passthrough only)."),
    ("workers", click.IntRange(1, 32), "Worker processes per side."),
    ("concurrency", click.IntRange(1, 1000), "Deliveries in flight per n8n-sidecar worker."),
    ("rate", click.FloatRange(1, 100000), "e2e and switch: steady webhooks per second."),
    ("duration", click.FloatRange(0.5, 3600), "e2e: seconds of steady load."),
    ("timeout", click.FloatRange(5, 7200), "Seconds per phase, at most."),
    ("day-seconds", click.FloatRange(0, 3600), "day: wall seconds for the simulated 24 h."),
    (
        "crowd",
        click.IntRange(2, 5000),
        "slow-n8n: concurrent senders; slow-senders: trickling connections.",
    ),
    (
        "crowd-seconds",
        click.FloatRange(1, 120),
        "slow-n8n: seconds of load per side; slow-senders: seconds of trickle.",
    ),
)


def size_options(command: Callable) -> Callable:
    """Add one option per entry of SIZES to `command`, in that order."""
    for name, accepted, text in reversed(SIZES):
        default = getattr(Options, name.replace("-", "_"))
        option = click.option(
            f"--{name}", type=accepted, default=default, show_default=True, help=text
        )
        command = option(command)
    return command


def check_switch_rate(options: Options) -> None:
    """Usage error when the switch scenario's load could not cross its threshold."""
    if "switch" not in options.scenarios:
        return
    from sidecar.bench.scenarios.switch import least_rate

    if options.rate < least_rate():
        raise click.BadParameter(
            f"the switch scenario needs {least_rate()} or more (got {options.rate:g})",
            param_hint="--rate",
        )


@click.command()
@click.option(
    "--scenario",
    "-s",
    "scenarios",
    multiple=True,
    type=click.Choice(CHOICES),
    help="Run only this scenario (repeatable; default: all but faults, durable, slow-n8n "
    "and slow-senders, which run only when named).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice(FAULTS),
    help="faults scenario: run only this fault (repeatable; default: all).",
)
@size_options
@click.option(
    "--smoke", is_flag=True, help="Tiny counts: every scenario in seconds (what the tests run)."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every figure to this file.",
)
def bench(
    scenarios: tuple[str, ...],
    faults: tuple[str, ...],
    smoke: bool,
    json_path: Path | None,
    **sizes: float,
) -> None:
    """Measure the sidecar against baselines from the same run (all on 127.0.0.1)."""
    from sidecar.bench.errors import BenchError
    from sidecar.bench.progress import Progress
    from sidecar.bench.report import render_table, write_json
    from sidecar.bench.runner import run

    options = Options(scenarios=tuple(scenarios) or SCENARIOS, faults=faults, **sizes)
    options = options.smoke_sized() if smoke else options
    check_switch_rate(options)
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
