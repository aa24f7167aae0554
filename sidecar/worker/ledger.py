"""Recording delivery outcomes in Redis: one pipeline per batch of finished attempts; the
count caps on kept jobs are enforced once a second, not per batch.

done  -> RQ finished registry, delivered marker (so a re-run never delivers twice)
retry -> RQ scheduled registry at now + backoff (promoted back to the queue when due)
dead  -> RQ failed registry + an entry on the dead-letter queue
"""

from __future__ import annotations

import logging
import math
import time
import zlib

import redis

from sidecar.events import add_event
from sidecar.queues import stats
from sidecar.queues.dlq import add_dead_letter, entry_for
from sidecar.queues.jobs import (
    DELIVERED_PREFIX,
    JOB_PREFIX,
    TakenJob,
    locks_key,
    registry_key,
    rq_now,
)
from sidecar.queues.scripts import Scripts
from sidecar.settings import Settings
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

    def record(self, results: list[tuple[TakenJob, Outcome]]) -> dict[str, int]:
        """Write every outcome in one round trip; return counts per final kind."""
        counts = {"done": 0, "retry": 0, "dead": 0}
        finished: dict[str, tuple[list[float], int]] = {}
        with self.client.pipeline(transaction=True) as pipe:
            for job, outcome in results:
                kind = self._final_kind(job, outcome)
                counts[kind] += 1
                self._release(pipe, job)
                getattr(self, f"_{kind}")(pipe, job, outcome)
                if kind != "retry":
                    self._note(pipe, finished, job, outcome, kind)
            for queue, (durations, failed) in finished.items():
                stats.record(pipe, queue, durations, failed)
            pipe.execute()
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

    @staticmethod
    def _note(
        pipe: redis.client.Pipeline, finished: dict, job: TakenJob, outcome: Outcome, kind: str
    ) -> None:
        """Event and statistics of a job that reached its final outcome."""
        durations, failed = finished.setdefault(job.queue, ([], 0))
        durations.append(outcome.duration * 1000)
        finished[job.queue] = (durations, failed + (kind == "dead"))
        data = {
            "jobId": job.id,
            "queue": job.queue,
            "attempts": job.attempt,
            "status": outcome.status,
            "ms": round(outcome.duration * 1000, 1),
        }
        if kind == "dead":
            data["error"] = outcome.error[:300]
        add_event(pipe, "completed" if kind == "done" else "failed", data)

    def _final_kind(self, job: TakenJob, outcome: Outcome) -> str:
        if outcome.kind == "retry" and job.attempt >= self.settings.job_attempts:
            return "dead"
        return outcome.kind

    def _release(self, pipe: redis.client.Pipeline, job: TakenJob) -> None:
        pipe.zrem(registry_key("wip", job.queue), f"{job.id}:{self.exec_id}")
        pipe.zrem(locks_key(job.queue), job.id)

    def _done(self, pipe: redis.client.Pipeline, job: TakenJob, outcome: Outcome) -> None:
        ttl = math.ceil(self.settings.keep_completed_seconds)
        key = JOB_PREFIX + job.id
        fields = {"status": "finished", "ended_at": rq_now(), "sidecar_status": outcome.status or 0}
        pipe.hset(key, mapping=fields)
        pipe.zadd(registry_key("finished", job.queue), {job.id: time.time() + ttl})
        pipe.expire(key, ttl)
        pipe.set(DELIVERED_PREFIX + job.id, 1, ex=ttl)

    def _retry(self, pipe: redis.client.Pipeline, job: TakenJob, outcome: Outcome) -> None:
        delay = retry_delay(outcome, job.attempt, self.settings.job_backoff_seconds)
        pipe.hset(
            JOB_PREFIX + job.id, mapping={"status": "scheduled", "sidecar_error": outcome.error}
        )
        pipe.zadd(registry_key("scheduled", job.queue), {job.id: time.time() + delay})
        log.info(
            "job %s attempt %d failed (%s); retry in %.1f s",
            job.id,
            job.attempt,
            outcome.error,
            delay,
        )

    def _dead(self, pipe: redis.client.Pipeline, job: TakenJob, outcome: Outcome) -> None:
        self.fail(pipe, job.id, job.queue, outcome.error)
        entry = entry_for(job.queue, job.id, job.payload, outcome.error, job.attempt)
        add_dead_letter(self.client, pipe, self.settings, entry)
        log.warning(
            "job %s dead-lettered after %d attempt(s): %s", job.id, job.attempt, outcome.error
        )

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
