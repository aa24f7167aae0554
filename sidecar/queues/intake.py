"""Intake: a captured webhook becomes an RQ job on its route's queue, durably, before the 202.

The guards and the store are one atomic Redis script (sidecar/queues/ingest.py), one round
trip: dedup (the first copy within the window claims its identity — method, path and id,
sidecar/guards/dedup.py — for its job; later copies raise Duplicate with that job's id),
then the per-user rate limit (RateLimited), then room on the queue (BacklogFull, 503 with a
Retry-After from the measured drain rate: sidecar/queues/backpressure.py), then RQ's enqueue
steps. Every accepted webhook
is a new job with a fresh id, so the job a 202 names lives until it is delivered or
dead-lettered, whatever the dedup window and retention. A refused webhook leaves no claim,
so the sender's retry is not a duplicate. The job hash is built
without RQ objects (sidecar/queues/jobhash.py). The payload is sealed when
SIDECAR_ENCRYPTION_KEY is set. Refusals add a best-effort event. With
SIDECAR_DURABLE_ACK the 202 also waits until the job is on disk / on replicas
(sidecar/queues/durable_ack.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from sidecar.backend.connection import ping, translate
from sidecar.backend.keys import keys_for
from sidecar.backend.scripts import Scripts
from sidecar.capture import CapturedRequest
from sidecar.crypto import PayloadCipher
from sidecar.errors import BacklogFull, Duplicate, RateLimited
from sidecar.events import add_event
from sidecar.guards.dedup import claim_key, claim_seconds, dedup_id
from sidecar.guards.keys import extract
from sidecar.guards.ratelimit import UserWindow
from sidecar.mode.alerts import BACKLOG_FULL, Alert, Alerter
from sidecar.queues.backpressure import MemoryWatch, QueueFull, drain_rate, retry_after
from sidecar.queues.durable_ack import DurableAck
from sidecar.queues.ingest import Admission, admit
from sidecar.queues.jobhash import JobHash
from sidecar.queues.jobs import new_job_id
from sidecar.routes import RateLimit, RouteRule, Routes
from sidecar.settings import Settings

DEFAULT_USER_KEY = "X-User-Id"


@dataclass(frozen=True)
class Queued:
    """A webhook stored as job `job_id` on `queue`."""

    job_id: str
    queue: str

    def body(self) -> dict[str, str]:
        """The 202 body of SPEC §5."""
        return {"status": "queued", "jobId": self.job_id, "queue": self.queue}


class Intake:
    """Writes jobs: captured webhooks (`enqueue`) and, through the same `store`, typed jobs
    (sidecar/queues/typed_intake.py). Parameters: `client` (Redis), `settings`, `routes`."""

    def __init__(self, client: redis.Redis, settings: Settings, routes: Routes | None = None):
        self.client, self.settings = client, settings
        self.routes = routes or Routes([], settings)
        self.claim_seconds = claim_seconds(settings.dedup_ttl_seconds)
        self.default_limit = RateLimit(
            limit=settings.user_rate_limit, window=max(1, round(settings.user_rate_window_seconds))
        )
        self.cipher = PayloadCipher(settings.encryption_keys)
        self.job_hash = JobHash(settings)
        self.script = Scripts(client).ingest
        self.durable = DurableAck(client, settings) if settings.durable_ack else None
        self.memory = MemoryWatch(client, settings.max_redis_memory_percent)
        self._alerter: Alerter | None = None

    def enqueue(self, captured: CapturedRequest, route: RouteRule | None = None) -> Queued:
        """Guard and store `captured`; Duplicate, RateLimited or BackendUnavailable."""
        route = route or self.routes.for_path(captured.resolved_path())
        queue = self.routes.queue_of(route)
        identity = dedup_id(captured, route.dedup_key)
        job_id = new_job_id()
        window = self._window(captured, route, queue)
        admission = Admission(
            queue=queue,
            job_id=job_id,
            claim=claim_key(queue, identity),
            claim_seconds=self.claim_seconds,
            window=window,
            fields=self._job_fields(captured, queue),
            **self.room(),
        )
        try:
            self.store(admission)
        except Duplicate as exc:
            self._event("duplicate", queue, exc.job_id, captured)
            raise
        except RateLimited:
            user = window.user if window else ""
            self._event("rate_limited", queue, None, captured, user=user)
            raise
        return Queued(job_id=job_id, queue=queue)

    def store(self, admission: Admission) -> None:
        """The one way a job is written: with SIDECAR_DURABLE_ACK refused before anything is
        stored when Redis cannot make it durable; then ingest.lua (claim, limit, room, job);
        then, with the durable ack, back once the job is durable. Duplicate, RateLimited,
        BacklogFull (503 + Retry-After), ServiceUnavailable or BackendUnavailable."""
        if self.durable:
            self.durable.ready()
        try:
            admit(self.script, self.client, admission)
        except QueueFull as exc:
            raise self._full(admission.queue, exc.waiting) from None
        if self.durable:
            self.durable.confirm()

    def room(self) -> dict[str, object]:
        """The Admission fields that bound the buffer (SIDECAR_MAX_WAITING, Redis memory)."""
        return {"max_waiting": self.settings.max_waiting, "memory_full": self.memory.full()}

    def _full(self, queue: str, waiting: int) -> BacklogFull:
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

    def _window(self, captured: CapturedRequest, route: RouteRule, queue: str) -> UserWindow | None:
        user = extract(captured, route.user_key or DEFAULT_USER_KEY)
        if not user:
            return None  # no user id: not limited per user
        return UserWindow(queue, user, route.rate_limit or self.default_limit)

    def _job_fields(self, captured: CapturedRequest, queue: str) -> list:
        payload = self.cipher.seal(captured.to_payload())
        description = None if self.cipher.enabled else f"{captured.method} {captured.path}"
        return self.job_hash.fields(queue, payload, description)

    def _event(
        self, kind: str, queue: str, job_id: str | None, captured: CapturedRequest, **extra: str
    ) -> None:
        try:
            with translate():
                add_event(
                    self.client,
                    keys_for(self.settings),
                    kind,
                    {"queue": queue, "jobId": job_id, "path": captured.path, **extra},
                )
        except Exception:  # an event is best effort; the answer to the sender is what counts
            return

    def health(self) -> tuple[bool, str]:
        """(ok, detail) of the Redis connection."""
        return ping(self.client)
