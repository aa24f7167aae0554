"""The `n8n-sidecar` command line: serve, worker, check, status, mode, dlq, events, bench.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config (one line per problem).
"""

from __future__ import annotations

import sys

import click

from sidecar.cli.lazy import LazyGroup
from sidecar.cli.support import routes_or_exit, settings_or_exit

# Imported when used: `serve` and `worker` start every process and stay light.
LAZY_SUBCOMMANDS = {
    "bench": "sidecar.bench.cli:bench",
    "dlq": "sidecar.cli.dlq:dlq",
    "events": "sidecar.cli.events:events",
    "mode": "sidecar.cli.mode:mode",
    "status": "sidecar.cli.mode:status",
}


@click.group(
    cls=LazyGroup,
    lazy_subcommands=LAZY_SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """n8n-sidecar: reliable webhooks in front of n8n."""


@main.command()
def serve() -> None:
    """Run the HTTP gateway (gunicorn supervising event-loop workers)."""
    from sidecar.server import run_gateway

    settings = settings_or_exit()
    routes_or_exit(settings)
    run_gateway(settings)


@main.command()
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    metavar="Q",
    help="Queue to deliver from, e.g. webhooks:inbound (repeatable; default: all).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 1000),
    default=None,
    help="Deliveries in flight (default SIDECAR_WORKER_CONCURRENCY).",
)
@click.option("--burst", is_flag=True, help="Exit once there is nothing left to deliver.")
def worker(queues: tuple[str, ...], concurrency: int | None, burst: bool) -> None:
    """Deliver queued webhooks to n8n (SIGTERM finishes deliveries in flight, then exits)."""
    from sidecar.worker.main import run_worker

    sys.exit(run_worker(settings_or_exit(), list(queues), concurrency, burst))


@main.command()
def check() -> None:
    """Validate the configuration and reach n8n (and Redis when configured)."""
    from sidecar.checks import run_checks

    settings = settings_or_exit()
    routes_or_exit(settings)
    results = run_checks(settings)
    for result in results:
        click.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    sys.exit(0 if all(r.ok for r in results) else 1)
