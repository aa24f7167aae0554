"""The cap on dead letters of n8n's "webhook is not registered" 404s.

Anyone can POST to a `/webhook/<path>` that no active workflow has; each such job would be
dead-lettered with its whole payload. At most SIDECAR_DLQ_UNREGISTERED_PER_HOUR per path and
hour are kept; the rest are failed without a dead letter, counted in
sidecar_dlq_dropped_total{reason="unregistered_webhook"}, and raise the
`unregistered_webhook` alert (once per cool-down, whatever the path). Typed jobs, sent with
an operator's token, are never capped.
"""

from __future__ import annotations

import redis

from sidecar.alerts import UNREGISTERED_WEBHOOK, Alert, Alerter
from sidecar.backend.keys import keys_for
from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.queues.deadletters.counts import is_unregistered, unregistered_counts
from sidecar.queues.jobs import TakenJob
from sidecar.settings import Settings
from sidecar.worker.policy import Outcome

SHOWN_PATH_CHARS = 200


class UnregisteredCap:
    """Decides which dead jobs are dropped, and alerts. Parameters: `client`, `settings`."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.cipher = PayloadCipher(settings.encryption_keys)
        self._alerter: Alerter | None = None

    def over_cap(self, dead: list[tuple[TakenJob, Outcome]]) -> dict[str, str]:
        """Count the unregistered-webhook 404s among `dead` (one round trip, none when there
        are none); those beyond the cap for their path this hour: job id -> path."""
        paths = {
            job.id: path
            for job, outcome in dead
            if is_unregistered(outcome.status, outcome.error)
            and (path := self._webhook_path(job)) is not None
        }
        if not paths:
            return {}
        counts = unregistered_counts(self.client, keys_for(self.settings), list(paths.values()))
        cap = self.settings.dlq_unregistered_per_hour
        return {
            job_id: path
            for (job_id, path), count in zip(paths.items(), counts, strict=True)
            if count > cap
        }

    def alert(self, dropped: dict[str, str]) -> None:
        """Raise `unregistered_webhook` for the jobs just dropped."""
        if self._alerter is None:
            self._alerter = Alerter.from_settings(self.settings, self.client)
        paths = sorted({path[:SHOWN_PATH_CHARS] for path in dropped.values()})
        message = (
            f"n8n says webhook {paths[0]!r} is not registered; over "
            f"{self.settings.dlq_unregistered_per_hour} dead letter(s) for it this hour, "
            f"so {len(dropped)} were not kept"
        )
        signals = {"paths": paths[:10], "dropped": len(dropped)}
        self._alerter.emit(Alert.make(UNREGISTERED_WEBHOOK, message, "queue", signals))

    def _webhook_path(self, job: TakenJob) -> str | None:
        """The path of a captured webhook; None for a typed job or a payload no key opens."""
        try:
            payload = self.cipher.unseal(job.payload)
        except UnreadablePayload:
            return None
        path = payload.get("path")
        return path if isinstance(path, str) else None
