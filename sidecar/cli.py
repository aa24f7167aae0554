"""The `n8n-sidecar` command line: serve, check (worker, status, mode, dlq come with queue mode).

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config (one line per problem).
"""

from __future__ import annotations

import sys

import click

from sidecar.errors import ConfigError
from sidecar.settings import Settings, load_settings


def settings_or_exit() -> Settings:
    """Load settings, or print one line per problem and exit 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo("configuration error:", err=True)
        for line in exc.problems:
            click.echo(f"  {line}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """n8n-sidecar: reliable webhooks in front of n8n."""


@main.command()
def serve() -> None:
    """Run the HTTP gateway under gunicorn (threaded workers)."""
    from sidecar.server import run_gateway

    run_gateway(settings_or_exit())


@main.command()
def check() -> None:
    """Validate the configuration and reach n8n (and Redis when configured)."""
    from sidecar.checks import run_checks

    results = run_checks(settings_or_exit())
    for result in results:
        click.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    sys.exit(0 if all(r.ok for r in results) else 1)
