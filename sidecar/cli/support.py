"""Helpers shared by the CLI commands: settings or exit 2, one-line failures."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from sidecar.errors import ConfigError
from sidecar.settings import Settings, load_settings


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_or_exit() -> Settings:
    """Load settings, or print one line per problem and exit 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo("configuration error:", err=True)
        for line in exc.problems:
            click.echo(f"  {line}", err=True)
        sys.exit(2)


def routes_or_exit(settings: Settings) -> None:
    """Validate SIDECAR_ROUTES_FILE, or print one line per bad rule and exit 2."""
    from sidecar.routes import load_routes

    try:
        load_routes(settings)
    except ConfigError as exc:
        click.echo("configuration error:", err=True)
        for line in exc.problems:
            click.echo(f"  {line}", err=True)
        sys.exit(2)
