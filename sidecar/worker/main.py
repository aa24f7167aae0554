"""`n8n-sidecar worker`: resolve the queues, connect, and run a Worker."""

from __future__ import annotations

import click

from sidecar.backend.connection import connect, ping
from sidecar.backend.keys import keys_for
from sidecar.backend.queue_names import all_queues, dead_letter_queue, resolve
from sidecar.collector import settle_garbage_collector
from sidecar.errors import ConfigError
from sidecar.logs import configure_logging
from sidecar.mode.counters import SignalCounters
from sidecar.mode.monitor import SignalFlusher
from sidecar.settings import Settings
from sidecar.worker.runner import Worker


def run_worker(settings: Settings, queues: list[str], concurrency: int | None, burst: bool) -> int:
    """Run one worker process; the exit code (2 for bad usage, 1 when Redis is unreachable)."""
    configure_logging(settings)
    try:
        names = [resolve(settings.queue_prefix, q) for q in queues] or all_queues(
            settings.queue_prefix
        )
        if dead_letter_queue(settings.queue_prefix) in names:  # entries are kept, not delivered
            raise ValueError(
                "the dead-letter queue is not delivered by workers; "
                "use `n8n-sidecar dlq replay` to put its entries back on their queues"
            )
        client = connect(settings)
    except (ValueError, ConfigError) as exc:
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for line in lines:
            click.echo(f"error: {line}", err=True)
        return 2
    ok, detail = ping(client)
    if not ok:
        click.echo(f"error: {detail}", err=True)
        return 1
    counters = SignalCounters()  # n8n's answer times, flushed for the gateways' monitor
    worker = Worker(
        settings, client, names, concurrency or settings.worker_concurrency, burst, counters
    )
    flusher = SignalFlusher(
        client, keys_for(settings), settings.monitor_interval_seconds, counters
    ).start()
    settle_garbage_collector()
    try:
        return worker.run()
    finally:
        flusher.stop()
