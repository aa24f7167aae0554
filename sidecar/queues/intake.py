"""Intake: a captured webhook becomes an RQ job on its route's queue, durably, before the 202.

The guards run first, in order: dedup (the first copy within the window claims the job id;
later copies raise Duplicate) and the per-user rate limit (RateLimited; the dedup claim is
given back so the sender's retry is not a duplicate). The payload is sealed when
SIDECAR_ENCRYPTION_KEY is set. If storing fails the claim is given back too.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from sidecar.capture import CapturedRequest
from sidecar.crypto import PayloadCipher
from sidecar.errors import Duplicate, RateLimited
from sidecar.events import add_event
from sidecar.guards.dedup import Deduplicator, dedup_id
from sidecar.guards.keys import extract
from sidecar.guards.ratelimit import UserRateLimiter
from sidecar.queues.connection import ping, translate
from sidecar.queues.jobs import DELIVERED_PREFIX, build_job, persist
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
    """Stores captured webhooks. Parameters: `client` (Redis), `settings`, `routes`."""

    def __init__(self, client: redis.Redis, settings: Settings, routes: Routes | None = None):
        self.client, self.settings = client, settings
        self.routes = routes or Routes([], settings)
        self.dedup = Deduplicator(client, settings.dedup_ttl_seconds)
        default = RateLimit(
            limit=settings.user_rate_limit, window=max(1, round(settings.user_rate_window_seconds))
        )
        self.limiter = UserRateLimiter(client, default)
        self.cipher = PayloadCipher(settings.encryption_keys)

    def enqueue(self, captured: CapturedRequest, route: RouteRule | None = None) -> Queued:
        """Guard and store `captured`; Duplicate, RateLimited or BackendUnavailable."""
        route = route or self.routes.for_path(captured.path)
        queue = self.routes.queue_of(route)
        identity = dedup_id(captured, route.dedup_key)
        try:
            job_id = self.dedup.claim(queue, identity)
        except Duplicate as exc:
            self._event("duplicate", queue, exc.job_id, captured)
            raise
        try:
            self._check_rate(captured, route, queue)
            self._store(captured, queue, job_id)
        except BaseException:
            self.dedup.release(queue, identity)
            raise
        return Queued(job_id=job_id, queue=queue)

    def _check_rate(self, captured: CapturedRequest, route: RouteRule, queue: str) -> None:
        user = extract(captured, route.user_key or DEFAULT_USER_KEY)
        if not user:
            return  # no user id: not limited per user
        try:
            self.limiter.hit(queue, user, route.rate_limit)
        except RateLimited:
            self._event("rate_limited", queue, None, captured, user=user)
            raise

    def _store(self, captured: CapturedRequest, queue: str, job_id: str) -> None:
        payload = self.cipher.seal(captured.to_payload())
        description = None if self.cipher.enabled else f"{captured.method} {captured.path}"
        job = build_job(
            self.client, self.settings, queue, payload, description=description, job_id=job_id
        )
        with translate(), self.client.pipeline(transaction=True) as pipe:
            pipe.delete(DELIVERED_PREFIX + job_id)  # a new dedup window may reuse a job id
            persist(pipe, queue, job)
            pipe.execute()

    def _event(
        self, kind: str, queue: str, job_id: str | None, captured: CapturedRequest, **extra: str
    ) -> None:
        try:
            with translate():
                add_event(
                    self.client,
                    kind,
                    {"queue": queue, "jobId": job_id, "path": captured.path, **extra},
                )
        except Exception:  # an event is best effort; the answer to the sender is what counts
            return

    def health(self) -> tuple[bool, str]:
        """(ok, detail) of the Redis connection."""
        return ping(self.client)
