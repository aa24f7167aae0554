"""Periodic duties of every worker: promote due retries, extend locks, recover stalled jobs.

Any worker may run them; the Lua scripts are atomic, so several workers doing so at once
is safe (a job is recovered by exactly one of them).
"""

from __future__ import annotations

import logging
import time

import redis

from sidecar.backend.keys import keys_for
from sidecar.backend.scripts import Scripts
from sidecar.events import add_event
from sidecar.queues.deadletters.entries import add_dead_letter, entry_for
from sidecar.queues.jobs import JOB_PREFIX, decode_data, locks_key, queue_key, registry_key, rq_now
from sidecar.settings import Settings
from sidecar.worker.ledger import Ledger

log = logging.getLogger("sidecar.worker")
BATCH = 500


def promote_due(scripts: Scripts, queues: list[str]) -> int:
    """Move retries whose backoff has elapsed back onto their queues."""
    moved = 0
    for queue in queues:
        keys = [registry_key("scheduled", queue), queue_key(queue)]
        moved += scripts.promote_scheduled(
            keys=keys, args=[time.time(), BATCH, JOB_PREFIX, rq_now()]
        )
    return moved


def extend_locks(client: redis.Redis, settings: Settings, in_flight: dict[str, str]) -> None:
    """Heartbeat: push the lock deadline of every job in flight (id -> queue) forward."""
    if not in_flight:
        return
    deadline = time.time() + settings.lock_seconds
    with client.pipeline(transaction=False) as pipe:
        for job_id, queue in in_flight.items():
            pipe.zadd(locks_key(queue), {job_id: deadline}, xx=True)
        pipe.execute()


def recover_stalled(scripts: Scripts, ledger: Ledger, queues: list[str]) -> tuple[int, int]:
    """Re-queue jobs whose lock lapsed; dead-letter those stalled too often. (requeued, dead)"""
    requeued = dead = 0
    max_stalled = ledger.settings.max_stalled_count
    for queue in queues:
        stalled_out = keys_for(ledger.settings).stalled_out
        keys = [locks_key(queue), queue_key(queue), registry_key("wip", queue), stalled_out]
        again, out = scripts.sweep_stalled(
            keys=keys, args=[time.time(), max_stalled, JOB_PREFIX, BATCH]
        )
        requeued, dead = requeued + again, dead + out
        if again or out:
            log.warning("re-queued %d stalled job(s) of %s (%d to dead-letter)", again, queue, out)
            add_event(
                ledger.client,
                keys_for(ledger.settings),
                "stalled",
                {"queue": queue, "requeued": again, "deadLettered": out},
            )
    drain_stalled_out(ledger)
    return requeued, dead


def drain_stalled_out(ledger: Ledger) -> None:
    """Dead-letter the jobs the sweep marked as stalled too often.

    Every worker drains the same list, so each job is handled in a transaction watching its
    hash: when another worker dead-lettered it first, this one only drops it from the list."""
    client = ledger.client
    for raw_id in client.lrange(keys_for(ledger.settings).stalled_out, 0, BATCH - 1):
        job_id = raw_id.decode()

        def dead_letter(
            pipe: redis.client.Pipeline, raw_id: bytes = raw_id, job_id: str = job_id
        ) -> None:
            data, queue, attempts, status = pipe.hmget(
                JOB_PREFIX + job_id, "data", "origin", "sidecar_stalled", "status"
            )
            pipe.multi()
            if data and queue and status != b"failed":
                error = f"worker died {int(attempts or 0)} time(s) while delivering this job"
                ledger.fail(pipe, job_id, queue.decode(), error)
                entry = entry_for(
                    queue.decode(), job_id, decode_data(data), error, int(attempts or 0)
                )
                add_dead_letter(client, pipe, ledger.settings, entry)
            pipe.lrem(keys_for(ledger.settings).stalled_out, 1, raw_id)

        client.transaction(dead_letter, JOB_PREFIX + job_id)
