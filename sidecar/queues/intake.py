"""Intake: the one place a job is written — webhook, typed job, follow-up, replay, dead letter.

It claims the dedup identity, seals the payload (sidecar/crypto.py, when
SIDECAR_ENCRYPTION_KEY is set) and stores the RQ job:

* webhooks (`enqueue`, from sidecar/ingress.py) and typed jobs (`enqueue_typed`, from
  POST /v1/jobs/{queue}) go through `store`: one atomic Redis script, one round trip
  (sidecar/queues/admission.py): dedup (the first copy within the window claims its
  identity — for webhooks method, path and id, sidecar/guards/dedup.py; for typed jobs the
  Idempotency-Key or update_id, sidecar/typed/requests.py — later copies raise Duplicate
  with that job's id), then the per-user rate limit (webhooks only; RateLimited), then room
  on the queue (BacklogFull, 503 with a Retry-After from the measured drain rate), then
  RQ's enqueue steps. Every accepted job is a new job with a fresh id, so the job a 202
  names lives until it is delivered or dead-lettered, whatever the dedup window and
  retention. A refused job leaves no claim, so the sender's retry is not a duplicate. The
  job hash is built without RQ objects (sidecar/queues/jobhash.py). Refusals add a
  best-effort event (sidecar/queues/refusals.py). With SIDECAR_DURABLE_ACK the 202 also
  waits until the job is on disk / on replicas (sidecar/queues/durable_ack.py).
* a typed job's follow-up (`enqueue_follow_up`, from the worker) has an id derived from its
  parent job, so it is stored at most once; it is not limited by queue room or the durable
  ack (it never was: a follow-up is written by a worker, not answered to a sender).
* dead-letter replays and dead-letter entries (`put_stored`) are written inside the
  caller's transaction with their payload as stored (sealed already).
"""

from __future__ import annotations

import redis
from redis.client import Pipeline
from rq.job import JobStatus

from sidecar.backend.connection import ping
from sidecar.backend.queue_names import queue_name
from sidecar.backend.scripts import Scripts
from sidecar.capture import CapturedRequest
from sidecar.crypto import PayloadCipher
from sidecar.errors import Duplicate, RateLimited
from sidecar.guards.dedup import claim_key, claim_seconds, dedup_id, job_id_for
from sidecar.guards.keys import extract
from sidecar.guards.ratelimit import UserWindow
from sidecar.queues.admission import Admission, admit
from sidecar.queues.backpressure import MemoryWatch, QueueFull
from sidecar.queues.durable_ack import DurableAck
from sidecar.queues.jobhash import JobHash
from sidecar.queues.jobs import JOB_PREFIX, build_job, new_job_id, persist, registry_key
from sidecar.queues.queued import Queued
from sidecar.queues.refusals import Refusals
from sidecar.routes import RateLimit, Route, Routes
from sidecar.settings import Settings
from sidecar.typed.follow_ups import FollowUp
from sidecar.typed.requests import RUN_FUNC, typed_identity

DEFAULT_USER_KEY = "X-User-Id"

__all__ = ["Intake", "Queued", "put_stored"]


class Intake:
    """Writes jobs: captured webhooks (`enqueue`), typed jobs (`enqueue_typed`) and typed
    follow-ups (`enqueue_follow_up`). Parameters: `client` (Redis), `settings`, `routes`."""

    def __init__(self, client: redis.Redis, settings: Settings, routes: Routes | None = None):
        self.client, self.settings = client, settings
        self.routes = routes or Routes([], settings)
        self.claim_seconds = claim_seconds(settings.dedup_ttl_seconds)
        self.default_limit = RateLimit(
            limit=settings.user_rate_limit, window=max(1, round(settings.user_rate_window_seconds))
        )
        self.cipher = PayloadCipher(settings.encryption_keys)
        self.job_hash = JobHash(settings)
        self.typed_hash = JobHash(settings, RUN_FUNC)
        self.script = Scripts(client).ingest
        self.durable = DurableAck(client, settings) if settings.durable_ack else None
        self.memory = MemoryWatch(client, settings.max_redis_memory_percent)
        self.refusals = Refusals(client, settings)

    def enqueue(self, captured: CapturedRequest, route: Route | None = None) -> Queued:
        """Guard and store `captured` on its `route`'s queue (None: matched here);
        Duplicate, RateLimited or BackendUnavailable."""
        route = route or self.routes.match(captured.resolved_path())
        admission, window = self.admission_for(captured, route, self.memory.full())
        queue = admission.queue
        try:
            self.store(admission)
        except Duplicate as exc:
            self.refusals.event("duplicate", queue, exc.job_id, captured.path)
            raise
        except RateLimited:
            user = window.user if window else ""
            self.refusals.event("rate_limited", queue, None, captured.path, user=user)
            raise
        return Queued(job_id=admission.job_id, queue=queue)

    def admission_for(
        self, captured: CapturedRequest, route: Route, memory_full: bool
    ) -> tuple[Admission, UserWindow | None]:
        """The Admission of webhook `captured` on `route` (a fresh job id, its dedup claim,
        its user's window, its sealed job hash) and that window; no Redis call (the sync
        and the event loop's intake share it)."""
        queue = route.queue
        window = self._window(captured, route, queue)
        admission = Admission(
            queue=queue,
            job_id=new_job_id(),
            claim=claim_key(queue, dedup_id(captured, route.rule.dedup_key)),
            claim_seconds=self.claim_seconds,
            window=window,
            fields=self._webhook_fields(captured, queue),
            max_waiting=self.settings.max_waiting,
            memory_full=memory_full,
        )
        return admission, window

    def enqueue_typed(self, operation: str, data: dict, key: str | None) -> Queued:
        """Store a validated typed job of `operation` on its queue (durable ack and queue room
        as for webhooks), deduplicated on the caller's Idempotency-Key `key` (or the Telegram
        update_id). Duplicate (with the first job's id) within the dedup window; BacklogFull;
        BackendUnavailable."""
        queue = queue_name(self.settings.queue_prefix, operation)
        identity = typed_identity(operation, data, key)
        payload = self.cipher.seal({"operation": operation, "data": data})
        admission = Admission(
            queue=queue,
            job_id=new_job_id(),
            claim=claim_key(queue, identity) if identity else None,
            claim_seconds=self.claim_seconds,
            window=None,
            fields=self.typed_hash.fields(queue, payload, operation),
            **self.room(),
        )
        self.store(admission)
        return Queued(job_id=admission.job_id, queue=queue)

    def enqueue_follow_up(self, follow: FollowUp, parent_id: str) -> str:
        """Store a typed follow-up as an RQ job at `run_at`, at most once per parent job (its
        id is derived from the parent's); its job id."""
        queue = queue_name(self.settings.queue_prefix, follow.operation)
        job_id = job_id_for(queue, f"follow-up:{parent_id}")
        if self.client.exists(JOB_PREFIX + job_id):
            return job_id
        stored = self.cipher.seal({"operation": follow.operation, "data": follow.payload})
        with self.client.pipeline(transaction=True) as pipe:
            if follow.run_at is None:
                put_stored(self.client, pipe, self.settings, queue, stored, RUN_FUNC, job_id=job_id)
            else:
                job = build_job(self.client, self.settings, queue, stored, RUN_FUNC, job_id=job_id)
                job.origin = queue
                job.set_status(JobStatus.SCHEDULED, pipeline=pipe)
                job.save(pipeline=pipe)
                pipe.zadd(registry_key("scheduled", queue), {job_id: follow.run_at.timestamp()})
            pipe.execute()
        return job_id

    def store(self, admission: Admission) -> None:
        """Store an admitted job: with SIDECAR_DURABLE_ACK refused before anything is
        stored when Redis cannot make it durable; then ingest.lua (claim, limit, room, job);
        then, with the durable ack, back once the job is durable. Duplicate, RateLimited,
        BacklogFull (503 + Retry-After), ServiceUnavailable or BackendUnavailable."""
        if self.durable:
            self.durable.ready()
        try:
            admit(self.script, self.client, admission)
        except QueueFull as exc:
            raise self.refusals.backlog_full(admission.queue, exc.waiting) from None
        if self.durable:
            self.durable.confirm()

    def room(self) -> dict[str, object]:
        """The Admission fields that bound the buffer (SIDECAR_MAX_WAITING, Redis memory)."""
        return {"max_waiting": self.settings.max_waiting, "memory_full": self.memory.full()}

    def _window(self, captured: CapturedRequest, route: Route, queue: str) -> UserWindow | None:
        user = extract(captured, route.rule.user_key or DEFAULT_USER_KEY)
        if not user:
            return None  # no user id: not limited per user
        return UserWindow(queue, user, route.rule.rate_limit or self.default_limit)

    def _webhook_fields(self, captured: CapturedRequest, queue: str) -> list:
        payload = self.cipher.seal(captured.to_payload())
        description = None if self.cipher.enabled else f"{captured.method} {captured.path}"
        return self.job_hash.fields(queue, payload, description)

    def health(self) -> tuple[bool, str]:
        """(ok, detail) of the Redis connection."""
        return ping(self.client)


def put_stored(
    client: redis.Redis,
    pipe: Pipeline,
    settings: Settings,
    queue: str,
    stored: dict,
    func: str,
    description: str | None = None,
    job_id: str | None = None,
) -> str:
    """Queue on `pipe` the RQ job calling `func(stored)` on `queue` — `stored` is the payload
    as it is kept (sealed already when encryption is on) — under `job_id` (None: a fresh
    id); written when the pipeline executes, in the caller's transaction (dead-letter
    replays, dead-letter entries, follow-ups). Its job id."""
    job = build_job(client, settings, queue, stored, func, description, job_id)
    persist(pipe, queue, job)
    return job.id
