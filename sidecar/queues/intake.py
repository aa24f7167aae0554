"""Intake: a captured webhook becomes an RQ job on its queue, durably, before the 202."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from sidecar.capture import CapturedRequest
from sidecar.queues.connection import ping
from sidecar.queues.jobs import enqueue_payload
from sidecar.queues.names import inbound_queue
from sidecar.settings import Settings


@dataclass(frozen=True)
class Queued:
    """A webhook stored as job `job_id` on `queue`."""

    job_id: str
    queue: str

    def body(self) -> dict[str, str]:
        """The 202 body of SPEC §5."""
        return {"status": "queued", "jobId": self.job_id, "queue": self.queue}


class Intake:
    """Stores captured webhooks. Parameters: `client` (Redis), `settings`."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client, self.settings = client, settings

    def enqueue(self, captured: CapturedRequest) -> Queued:
        """Store `captured` on its queue; BackendUnavailable when Redis cannot take it."""
        queue = inbound_queue(self.settings.queue_prefix)
        job_id = enqueue_payload(self.client, self.settings, queue, captured.to_payload())
        return Queued(job_id=job_id, queue=queue)

    def health(self) -> tuple[bool, str]:
        """(ok, detail) of the Redis connection."""
        return ping(self.client)
