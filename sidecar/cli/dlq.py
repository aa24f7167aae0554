"""`n8n-sidecar dlq list|show ID|replay ID|replay --all [--queue Q]|purge [--queue Q]`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click
import redis

from sidecar.backend.connection import connect
from sidecar.backend.queue_names import resolve
from sidecar.cli.support import fail, settings_or_exit
from sidecar.errors import BackendUnavailable, ConfigError, Rejected
from sidecar.queues import deadletters
from sidecar.settings import Settings


def _open(settings: Settings, queue: str | None) -> tuple[redis.Redis, str | None]:
    """Redis client and the resolved queue name; exit 2 on bad config or queue."""
    try:
        client = connect(settings)
        return client, resolve(settings.queue_prefix, queue) if queue else None
    except ConfigError as exc:
        fail(exc.problems[0], 2)
    except ValueError as exc:
        fail(str(exc), 2)


def run(action: Callable[[], None]) -> None:
    """Run `action`, turning sidecar errors into one line and exit 1."""
    try:
        action()
    except (BackendUnavailable, Rejected) as exc:
        fail(str(exc), 1)


@click.group()
def dlq() -> None:
    """Inspect and replay the dead-letter queue."""


@dlq.command("list")
@click.option("--queue", "-q", help="Only entries of this queue.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(queue: str | None, limit: int, as_json: bool) -> None:
    """List dead letters, oldest first."""
    settings = settings_or_exit()
    client, name = _open(settings, queue)

    def show() -> None:
        page, total = deadletters.list_entries(client, settings, name, 0, limit)
        if as_json:
            click.echo(json.dumps({"total": total, "items": [e.summary() for e in page]}))
            return
        click.echo(f"{total} dead letter(s)")
        for entry in page:
            click.echo(
                f"{entry.id}  {entry.queue}  job {entry.jobId}  {entry.failedAt}  "
                f"attempts {entry.attempts}  {entry.error[:80]}"
            )

    run(show)


@dlq.command()
@click.argument("entry_id")
def show(entry_id: str) -> None:
    """Show one dead letter (by its id or the original job's) with its whole captured
    request, as JSON (as an admin sees it: this command has direct Redis access)."""
    settings = settings_or_exit()
    client, _ = _open(settings, None)
    run(
        lambda: click.echo(
            json.dumps(_full(settings, deadletters.get_entry(client, settings, entry_id)), indent=2)
        )
    )


def _full(settings: Settings, entry: deadletters.DeadLetter) -> dict:
    return {**entry.summary(), "data": deadletters.opened(settings, entry), "redacted": False}


@dlq.command()
@click.argument("entry_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every entry (of --queue).")
@click.option("--queue", "-q", help="With --all: only entries of this queue.")
def replay(entry_id: str | None, replay_all: bool, queue: str | None) -> None:
    """Put a dead letter's job back on its queue with fresh attempts (ID: the entry's or
    the original job's)."""
    if bool(entry_id) == replay_all:
        fail("give either an entry id or --all", 2)
    settings = settings_or_exit()
    client, name = _open(settings, queue)
    if entry_id:
        run(
            lambda: click.echo(
                f"replayed job {deadletters.replay(client, settings, entry_id).jobId}"
            )
        )
        return
    run(lambda: _replay_with_progress(client, settings, name))


def _replay_with_progress(client: redis.Redis, settings: Settings, queue: str | None) -> None:
    _, total = deadletters.list_entries(client, settings, queue, 0, 1)
    with click.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
        done, skipped = deadletters.replay_all(client, settings, queue, progress=bar.update)
    click.echo(f"replayed {done}, skipped {skipped} (still waiting or gone)")


@dlq.command()
@click.option("--queue", "-q", help="Only entries of this queue.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(queue: str | None, yes: bool) -> None:
    """Delete dead letters (all, or those of --queue)."""
    settings = settings_or_exit()
    client, name = _open(settings, queue)
    if not yes and not click.confirm(f"delete every dead letter{f' of {name}' if name else ''}?"):
        fail("nothing deleted", 1)
    run(lambda: click.echo(f"deleted {deadletters.purge(client, settings, name)} dead letter(s)"))
