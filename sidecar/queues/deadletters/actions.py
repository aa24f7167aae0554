"""Acting on dead letters: replay (one or all), delete, purge.

Replaying puts the original job back on its queue under its ORIGINAL id, with fresh
attempts, so n8n sees the same Idempotency-Key; a job that is still waiting, scheduled or
running is never duplicated. The job is written by the intake (sidecar/queues/intake.py,
`put_stored`) in the same transaction that drops the entry.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from sidecar.backend.connection import translate
from sidecar.crypto import PayloadCipher
from sidecar.errors import Conflict, NotFound
from sidecar.queues.deadletters.entries import by_queue_key, dlq_key, index_key
from sidecar.queues.deadletters.reading import (
    DeadLetter,
    all_ids,
    get_entry,
    opened,
    parse_summary,
    summaries,
)
from sidecar.queues.intake import put_stored
from sidecar.queues.jobs import DELIVER_FUNC, JOB_PREFIX, registry_key
from sidecar.settings import Settings
from sidecar.typed.requests import RUN_FUNC, is_typed

PENDING_STATUSES = frozenset({b"queued", b"started", b"scheduled"})
BATCH = 500


def job_function(settings: Settings, entry: DeadLetter) -> str:
    """The RQ function of the original job: a typed job's processor, or plain delivery."""
    return RUN_FUNC if is_typed(opened(settings, entry)) else DELIVER_FUNC


def replay(client: redis.Redis, settings: Settings, given: str) -> DeadLetter:
    """Put the entry's job back on its queue with fresh attempts and drop the entry.

    Conflict when the original job is still waiting, scheduled or running."""
    entry = get_entry(client, settings, given)
    original = JOB_PREFIX + entry.jobId

    def write(pipe: redis.client.Pipeline) -> None:
        if pipe.hget(original, "status") in PENDING_STATUSES:
            raise Conflict(f"job {entry.jobId} is already waiting or running; not replayed")
        pipe.multi()
        pipe.delete(original)
        pipe.zrem(registry_key("failed", entry.queue), entry.jobId)
        func = job_function(settings, entry)
        put_stored(client, pipe, settings, entry.queue, entry.data, func, job_id=entry.jobId)
        pipe.hset(original, "sidecar_replayed_from", entry.id)
        _remove(pipe, settings, entry)

    with translate():
        client.transaction(write, original, JOB_PREFIX + entry.id)
    return entry


def replay_all(
    client: redis.Redis,
    settings: Settings,
    queue: str | None,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]:
    """Replay every entry (of `queue`, if given), one at a time; (replayed, skipped as still
    pending or gone)."""
    replayed = skipped = 0
    for entry_id in all_ids(client, settings, queue):
        try:
            replay(client, settings, entry_id)
            replayed += 1
        except (Conflict, NotFound):
            skipped += 1
        if progress is not None:
            progress(1)
    return replayed, skipped


def delete(client: redis.Redis, settings: Settings, given: str) -> DeadLetter:
    """Delete one entry (by its id or its original job's); NotFound when there is none."""
    entry = get_entry(client, settings, given)
    with translate(), client.pipeline(transaction=True) as pipe:
        _remove(pipe, settings, entry)
        pipe.execute()
    return entry


def purge(client: redis.Redis, settings: Settings, queue: str | None) -> int:
    """Delete every entry (of `queue`, if given), BATCH at a time; how many were deleted."""
    cipher, deleted = PayloadCipher(settings.encryption_keys), 0
    ids = all_ids(client, settings, queue)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with translate():
            raws = summaries(client, chunk)
            with client.pipeline(transaction=True) as pipe:
                for entry_id, raw in zip(chunk, raws, strict=True):
                    entry = parse_summary(cipher, entry_id, raw)
                    if entry is not None:
                        _remove(pipe, settings, entry)
                        deleted += 1
                pipe.execute()
    return deleted


def _remove(pipe: redis.client.Pipeline, settings: Settings, entry: DeadLetter) -> None:
    pipe.lrem(dlq_key(settings), 1, entry.id)
    pipe.zrem(by_queue_key(entry.queue), entry.id)
    pipe.delete(JOB_PREFIX + entry.id)
    pipe.delete(index_key(settings, entry.jobId))
