"""What a refused job leaves behind, best effort: the `backlog_full` alert and the 503 with
its Retry-After from the measured drain rate (sidecar/queues/backpressure.py) for a full
queue, and the event of a refused webhook (duplicate, rate_limited). Used by the intake.
"""

from __future__ import annotations

import redis

from sidecar.alerts import BACKLOG_FULL, Alert, Alerter
from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for
from sidecar.errors import BacklogFull
from sidecar.events import add_event
from sidecar.queues.backpressure import drain_rate, retry_after
from sidecar.settings import Settings


class Refusals:
    """Reports refusals. Parameters: `client` (Redis), `settings`."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self._alerter: Alerter | None = None

    def backlog_full(self, queue: str, waiting: int) -> BacklogFull:
        """The 503 for a full `queue`, with its Retry-After; raises `backlog_full`."""
        with translate():
            rate = drain_rate(self.client, queue)
        seconds = retry_after(waiting, rate)
        try:
            if self._alerter is None:
                self._alerter = Alerter.from_settings(self.settings, self.client)
            message = f"queue {queue} is full ({waiting} waiting): senders get 503"
            signals = {"queue": queue, "waiting": waiting, "drainPerSecond": round(rate, 2)}
            self._alerter.emit(Alert.make(BACKLOG_FULL, message, "queue", signals), queue)
        except Exception:  # an alert is best effort; the answer to the sender is what counts
            pass
        return BacklogFull(seconds)

    def event(self, kind: str, queue: str, job_id: str | None, path: str, **extra: str) -> None:
        """Add the event of a refused webhook (never raises)."""
        try:
            with translate():
                add_event(
                    self.client,
                    keys_for(self.settings),
                    kind,
                    {"queue": queue, "jobId": job_id, "path": path, **extra},
                )
        except Exception:  # an event is best effort; the answer to the sender is what counts
            return
