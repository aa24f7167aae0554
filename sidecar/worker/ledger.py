"""Recording delivery outcomes in Redis: one Lua call per batch of finished attempts
(lua/record.lua; with the dead-letter entries, if any, in the same transaction); the count
caps on kept jobs are enforced once a second, not per batch.

done  -> RQ finished registry, delivered marker (so a re-run never delivers twice)
retry -> RQ scheduled registry at now + backoff (promoted back to the queue when due)
hold  -> back to the head of the queue, the attempt given back (n8n never got it: gate.py)
dead  -> RQ failed registry + an entry on the dead-letter queue (n8n's "webhook is not
         registered" 404s: within the cap of unregistered.py)
Once a second, too, the dead-letter queue's limits (queues/deadletters/retention.py).
"""

from __future__ import annotations

import logging
import math
import time
import zlib

import redis

from sidecar.backend.keys import keys_for
from sidecar.backend.scripts import Scripts
from sidecar.queues.deadletters.counts import count_dropped
from sidecar.queues.deadletters.entries import UNREGISTERED, add_dead_letter, entry_for
from sidecar.queues.deadletters.retention import adopt_legacy_entries, trim_dead_letters
from sidecar.queues.jobs import JOB_PREFIX, TakenJob, registry_key, rq_now
from sidecar.settings import Settings
from sidecar.worker.outcomes import RecordArgs
from sidecar.worker.policy import Outcome, retry_delay
from sidecar.worker.unregistered import UnregisteredCap

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
        self.unregistered = UnregisteredCap(client, settings)
        self._adopted = False  # dead letters of earlier versions (deadletters.retention)

    def record(self, results: list[tuple[TakenJob, Outcome]]) -> dict[str, int]:
        """Write every outcome in one round trip (lua/record.lua); return counts per final
        kind."""
        counts = {"done": 0, "retry": 0, "dead": 0}
        args = RecordArgs(self.settings, self.exec_id, rq_now())
        dead: list[tuple[TakenJob, Outcome]] = []
        for job, outcome in results:
            kind = self._final_kind(job, outcome)
            counts[kind] = counts.get(kind, 0) + 1  # "hold" only when there is one
            args.add(job, outcome, kind, self._retry_delay(job, outcome) if kind == "retry" else 0)
            if kind == "dead":
                dead.append((job, outcome))
        self._write(args.argv(), dead)
        self._untrimmed |= {job.queue for job, _ in results}
        return counts

    def trim_due(self, force: bool = False) -> None:
        """Enforce the count caps on queues with new outcomes and the dead-letter limits, at
        most once every TRIM_EVERY_SECONDS (a cap may be passed by that much meanwhile);
        `force` at exit. The first time, adopt dead letters of earlier versions."""
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
        dropped = self.unregistered.over_cap(dead)
        with self.client.pipeline(transaction=True) as pipe:
            self.scripts.record(args=argv, client=pipe)
            for job, outcome in dead:
                if job.id in dropped:
                    log.info("job %s failed, not dead-lettered: %s", job.id, outcome.error)
                    count_dropped(pipe, keys_for(self.settings), UNREGISTERED)
                    continue
                log.warning(
                    "job %s dead-lettered after %d attempt(s): %s",
                    job.id,
                    job.attempt,
                    outcome.error,
                )
                entry = entry_for(job.queue, job.id, job.payload, outcome.error, job.attempt)
                add_dead_letter(self.client, pipe, self.settings, entry)
            pipe.execute()
        if dropped:
            self.unregistered.alert(dropped)

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
