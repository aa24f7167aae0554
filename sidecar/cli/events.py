"""`n8n-sidecar events [--after ID] [--follow]`: print queue and mode events, one JSON a line."""

from __future__ import annotations

import json

import click

from sidecar.backend.connection import connect
from sidecar.backend.keys import keys_for
from sidecar.cli.support import fail, settings_or_exit
from sidecar.errors import BackendUnavailable, ConfigError
from sidecar.events import read_events, valid_stream_id

FOLLOW_BLOCK_MS = 5000


@click.command()
@click.option("--after", default="0", show_default=True, help="Only events after this id.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
def events(after: str, follow: bool) -> None:
    """Print events (completed, failed, stalled, duplicate, rate_limited, mode_changed, alert)."""
    if not valid_stream_id(after):
        fail(f"--after must be an event id like 1700000000000-0, got {after!r}", 2)
    try:
        settings = settings_or_exit()
        client = connect(settings)
    except ConfigError as exc:
        fail(exc.problems[0], 2)
    try:
        while True:
            block = FOLLOW_BLOCK_MS if follow else None
            batch = read_events(client, keys_for(settings), after, 500, block)
            for event in batch:
                click.echo(json.dumps(event))
            after = batch[-1]["id"] if batch else after
            if not follow and len(batch) < 500:
                return
    except BackendUnavailable as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        return
