"""Making real dead letters for tests: webhooks n8n refuses, delivered by a real worker."""

from __future__ import annotations

from flask.testing import FlaskClient

from sidecar.backend.connection import connect
from sidecar.settings import Settings
from sidecar.worker.runner import Worker

INBOUND = "flrts:webhooks:inbound"


def deliver_all(settings: Settings) -> None:
    """Run a real worker in burst mode (in this process) until nothing is left."""
    Worker(settings, connect(settings), [INBOUND], concurrency=4, burst=True).run()


def make_dead_letters(client: FlaskClient, settings: Settings, count: int = 1) -> list[str]:
    """Queue `count` webhooks to unregistered paths (n8n: 404) and let a worker dead-letter
    them; the queued job ids, in order."""
    ids = [client.post(f"/webhook/gone-{i}", data=b"x").get_json()["jobId"] for i in range(count)]
    deliver_all(settings)
    return ids
