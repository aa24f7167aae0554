"""Recording delivery outcomes in Redis: one Lua call per batch of finished attempts
(lua/record.lua; with the dead-letter entries, if any, in the same transaction); the count
caps on kept jobs are enforced once a second, not per batch.

done  -> RQ finished registry, delivered marker (so a re-run never delivers twice)
retry -> RQ scheduled registry at now + backoff (promoted back to the queue when due)
dead  -> RQ failed registry + an entry on the dead-letter queue (n8n's "webhook is not
         registered" 404s: at most SIDECAR_DLQ_UNREGISTERED_PER_HOUR per path and hour; the
         rest are counted in sidecar_dlq_dropped_total and raise `unregistered_webhook`)
"""

from __future__ import annotations

import logging
import math
import time
import zlib

import redis

from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.mode.alerts import UNREGISTERED_WEBHOOK, Alert, Alerter
from sidecar.queues.dlq import (
    UNREGISTERED,
    add_dead_letter,
    adopt_legacy_entries,
    count_dropped,
    entry_for,
    is_unregistered,
    trim_dead_letters,
    unregistered_counts,
)
from sidecar.queues.jobs import JOB_PREFIX, TakenJob, registry_key, rq_now
from sidecar.queues.scripts import Scripts
from sidecar.settings import Settings
from sidecar.worker.outcomes import RecordArgs
from sidecar.worker.policy import Outcome, retry_delay

log = logging.getLogger("sidecar.worker")
TRIM_EVERY_SECONDS = 1.0


class Ledger:
    """Writes outcomes for one worker process.

    Parameters: `client` (Redis), `scripts`, `settings`, `exec_id` (this worker's execution
    id, part of RQ's started-registry members).
    """

    def __init__(self, client: redis.Redis, scripts: Scripts, settings: Settings, exec_id: str):
        self.client, self.scripts, self.settings, self.exec_id = client, scripts, settings, exec_id
        self._untrimmed: set[str] = set()  # queues with outcomes recorded since their last trim
        self._next_trim = 0.0
        self._alerter: Alerter | None = None
        self._adopted = False  # dead letters of earlier versions (dlq.adopt_legacy_entries)

    def record(self, results: list[tuple[TakenJob, Outcome]]) -> dict[str, int]:
        """Write every outcome in one round trip (lua/record.lua); return counts per final
        kind."""
        counts = {"done": 0, "retry": 0, "dead": 0}
        args = RecordArgs(self.settings, self.exec_id, rq_now())
        dead: list[tuple[TakenJob, Outcome]] = []
        for job, outcome in results:
            kind = self._final_kind(job, outcome)
            counts[kind] += 1
            args.add(job, outcome, kind, self._retry_delay(job, outcome) if kind == "retry" else 0)
            if kind == "dead":
                dead.append((job, outcome))
        self._write(args.argv(), dead)
        self._untrimmed |= {job.queue for job, _ in results}
        return counts

    def trim_due(self, force: bool = False) -> None:
        """Enforce the count caps on queues with new outcomes, at most once every
        TRIM_EVERY_SECONDS (a cap may be passed by that much meanwhile); `force` at exit."""
        now = time.monotonic()
        if not force and now < self._next_trim:
            return
        self._next_trim = now + TRIM_EVERY_SECONDS
        while self._untrimmed:
            self.trim(self._untrimmed.pop())
        trim_dead_letters(self.scripts.trim_dead_letters, self.settings)
        if not self._adopted:
            self._adopted = True
            adopt_legacy_entries(self.client, self.settings)

    def _final_kind(self, job: TakenJob, outcome: Outcome) -> str:
        if outcome.kind == "retry" and job.attempt >= self.settings.job_attempts:
            return "dead"
        return outcome.kind

    def _retry_delay(self, job: TakenJob, outcome: Outcome) -> float:
        delay = retry_delay(outcome, job.attempt, self.settings.job_backoff_seconds)
        log.info(
            "job %s attempt %d failed (%s); retry in %.1f s",
            job.id,
            job.attempt,
            outcome.error,
            delay,
        )
        return delay

    def _write(self, argv: list, dead: list[tuple[TakenJob, Outcome]]) -> None:
        """record.lua alone, or with the dead-letter entries in one transaction."""
        if not dead:
            self.scripts.record(args=argv)
            return
        dropped = self._over_unregistered_cap(dead)
        with self.client.pipeline(transaction=True) as pipe:
            self.scripts.record(args=argv, client=pipe)
            for job, outcome in dead:
                log.warning(
                    "job %s dead-lettered after %d attempt(s): %s",
                    job.id,
                    job.attempt,
                    outcome.error,
                )
                if job.id in dropped:
                    count_dropped(pipe, UNREGISTERED)
                    continue
                entry = entry_for(job.queue, job.id, job.payload, outcome.error, job.attempt)
                add_dead_letter(self.client, pipe, self.settings, entry)
            pipe.execute()
        if dropped:
            self._alert_unregistered(dropped)

    def _over_unregistered_cap(self, dead: list[tuple[TakenJob, Outcome]]) -> dict[str, str]:
        """The dead jobs refused by n8n as an unregistered webhook beyond
        SIDECAR_DLQ_UNREGISTERED_PER_HOUR for their path this hour: job id -> path."""
        paths = {
            job.id: self._path_of(job)
            for job, outcome in dead
            if is_unregistered(outcome.status, outcome.error)
        }
        if not paths:
            return {}
        counts = unregistered_counts(self.client, list(paths.values()))
        cap = self.settings.dlq_unregistered_per_hour
        return {
            job_id: path
            for (job_id, path), count in zip(paths.items(), counts, strict=True)
            if count > cap
        }

    def _path_of(self, job: TakenJob) -> str:
        try:
            payload = PayloadCipher(self.settings.encryption_keys).unseal(job.payload)
        except UnreadablePayload:
            return ""
        return str(payload.get("path", ""))

    def _alert_unregistered(self, dropped: dict[str, str]) -> None:
        """`unregistered_webhook`, at most once per cool-down (whatever the path)."""
        if self._alerter is None:
            self._alerter = Alerter.from_settings(self.settings, self.client)
        paths = sorted(set(dropped.values()))
        cap = self.settings.dlq_unregistered_per_hour
        message = (
            f"n8n says webhook {paths[0][:200]!r} is not registered; more than {cap} "
            f"dead letter(s) for it this hour, so {len(dropped)} were not kept"
        )
        signals = {"paths": [p[:200] for p in paths[:10]], "dropped": len(dropped)}
        self._alerter.emit(Alert.make(UNREGISTERED_WEBHOOK, message, "queue", signals))

    def fail(self, pipe: redis.client.Pipeline, job_id: str, queue: str, error: str) -> None:
        """Mark a job failed in RQ's terms (status, exc_info, failed registry, TTL)."""
        ttl = math.ceil(self.settings.keep_failed_seconds)
        key = JOB_PREFIX + job_id
        fields = {
            "status": "failed",
            "ended_at": rq_now(),
            "sidecar_error": error,
            "exc_info": zlib.compress(error.encode()),
        }
        pipe.hset(key, mapping=fields)
        pipe.zadd(registry_key("failed", queue), {job_id: time.time() + ttl})
        pipe.expire(key, ttl)

    def trim(self, queue: str) -> None:
        """Enforce the completed/failed count caps for `queue`."""
        for kind, keep in (
            ("finished", self.settings.keep_completed_count),
            ("failed", self.settings.keep_failed_count),
        ):
            self.scripts.trim_registry(keys=[registry_key(kind, queue)], args=[keep, JOB_PREFIX])
