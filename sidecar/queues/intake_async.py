"""The intake's webhook path on the event loop (ADR-007): `Intake.enqueue`'s one round trip
(ingest.lua through redis.asyncio, the same keys and args, sidecar/queues/admission.py),
with the same answers: Duplicate, RateLimited, BacklogFull, BackendUnavailable. The
webhooks of one turn of the loop share that round trip (backend/script_pipeline.py).

What may wait for Redis besides that round trip runs in a worker thread: the refusal
events and the backlog's Retry-After (after a refusal only), the memory check (at most once
per MEMORY_CHECK_SECONDS). With SIDECAR_DURABLE_ACK, or without an asyncio client (Sentinel),
the whole sync `Intake.enqueue` runs in a worker thread.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aredis

from sidecar.backend.connection import translate
from sidecar.backend.script_pipeline import ScriptPipeline
from sidecar.backend.scripts import source
from sidecar.capture import CapturedRequest
from sidecar.errors import Duplicate, RateLimited
from sidecar.queues.admission import outcome_of, script_args, script_keys
from sidecar.queues.backpressure import QueueFull
from sidecar.queues.intake import Intake
from sidecar.queues.queued import Queued
from sidecar.routes import Route


class AsyncIntake:
    """Parameters: `intake` (the sync intake: settings, cipher, job hash, refusals),
    `client` (its redis.asyncio twin; None: the sync intake in a worker thread)."""

    def __init__(self, intake: Intake, client: aredis.Redis | None) -> None:
        self.sync, self.client = intake, client
        self.script = (
            ScriptPipeline(client, client.register_script(source("ingest")))
            if client is not None
            else None
        )

    async def enqueue(self, captured: CapturedRequest, route: Route) -> Queued:
        """Guard and store `captured` on `route`'s queue (see Intake.enqueue)."""
        if self.script is None or self.sync.durable is not None:
            return await asyncio.to_thread(self.sync.enqueue, captured, route)
        memory = self.sync.memory
        memory_full = await asyncio.to_thread(memory.full) if memory.due() else memory.full()
        admission, window = self.sync.admission_for(captured, route, memory_full)
        try:
            with translate():
                reply = await self.script(script_keys(admission), script_args(admission))
            outcome_of(reply)
        except QueueFull as exc:
            refusal = await asyncio.to_thread(
                self.sync.refusals.backlog_full, admission.queue, exc.waiting
            )
            raise refusal from None
        except Duplicate as exc:
            await asyncio.to_thread(
                self.sync.refusals.event, "duplicate", admission.queue, exc.job_id, captured.path
            )
            raise
        except RateLimited:
            user = window.user if window else ""
            await asyncio.to_thread(
                self.sync.refusals.event,
                "rate_limited",
                admission.queue,
                None,
                captured.path,
                user=user,
            )
            raise
        return Queued(job_id=admission.job_id, queue=admission.queue)

    async def close(self) -> None:
        """Close the asyncio client's connections."""
        if self.client is not None:
            await self.client.aclose()
