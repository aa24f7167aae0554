"""Reading and acting on the dead-letter queue: list, show, replay, delete, purge.

A dead letter is an RQ job on `{prefix}:dead-letter` whose argument is
{"queue", "jobId", "data", "error", "attempts", "failedAt"} (see dlq.py). Replaying puts the
original job back on its queue under its ORIGINAL id, with fresh attempts, so n8n sees the
same Idempotency-Key; a job that is still waiting, scheduled or running is never duplicated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import redis

from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.errors import Conflict, NotFound
from sidecar.queues.connection import translate
from sidecar.queues.jobs import (
    DELIVER_FUNC,
    JOB_PREFIX,
    build_job,
    decode_data,
    persist,
    queue_key,
    registry_key,
)
from sidecar.queues.names import dead_letter_queue
from sidecar.settings import Settings
from sidecar.typed.processors import RUN_FUNC, is_typed

PENDING_STATUSES = frozenset({b"queued", b"started", b"scheduled"})
SCAN_LIMIT = 100_000


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter entry: `id` is the entry's own id, `jobId` the original job's."""

    id: str
    queue: str
    jobId: str
    error: str
    attempts: int
    failedAt: str
    data: dict

    def summary(self) -> dict:
        """The entry without its captured request (for listings)."""
        return {k: v for k, v in asdict(self).items() if k != "data"}


def _dlq_key(settings: Settings) -> str:
    return queue_key(dead_letter_queue(settings.queue_prefix))


def _load(client: redis.Redis, entry_id: str) -> DeadLetter | None:
    return _parse(entry_id, client.hget(JOB_PREFIX + entry_id, "data"))


def _parse(entry_id: str, raw: bytes | None) -> DeadLetter | None:
    if raw is None:
        return None
    entry = decode_data(raw)
    return DeadLetter(
        id=entry_id,
        queue=entry["queue"],
        jobId=entry["jobId"],
        error=entry.get("error", ""),
        attempts=int(entry.get("attempts", 0)),
        failedAt=entry.get("failedAt", ""),
        data=entry.get("data", {}),
    )


def job_function(settings: Settings, entry: DeadLetter) -> str:
    """The RQ function of the original job: a typed job's processor, or plain delivery."""
    return RUN_FUNC if is_typed(opened(settings, entry)) else DELIVER_FUNC


def opened(settings: Settings, entry: DeadLetter) -> dict:
    """The entry's payload, decrypted when it was sealed ({} when no key opens it)."""
    try:
        return PayloadCipher(settings.encryption_keys).unseal(entry.data)
    except UnreadablePayload:
        return {}


def list_entries(
    client: redis.Redis, settings: Settings, queue: str | None, offset: int, limit: int
) -> tuple[list[DeadLetter], int]:
    """A page of entries, oldest first, optionally only those of `queue`; (page, total)."""
    with translate():
        ids = [i.decode() for i in client.lrange(_dlq_key(settings), 0, SCAN_LIMIT - 1)]
        with client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hget(JOB_PREFIX + entry_id, "data")
            raws = pipe.execute()
    entries = [e for e in map(_parse, ids, raws) if e is not None]
    if queue:
        entries = [e for e in entries if e.queue == queue]
    return entries[offset : offset + limit], len(entries)


def get_entry(client: redis.Redis, entry_id: str) -> DeadLetter:
    """One entry; NotFound when there is none with that id."""
    entry = None
    if entry_id.isalnum():
        with translate():
            entry = _load(client, entry_id)
    if entry is None:
        raise NotFound(f"no dead letter with id {entry_id!r}")
    return entry


def replay(client: redis.Redis, settings: Settings, entry_id: str) -> DeadLetter:
    """Put the entry's job back on its queue with fresh attempts and drop the entry.

    Conflict when the original job is still waiting, scheduled or running."""
    entry = get_entry(client, entry_id)
    original = JOB_PREFIX + entry.jobId

    def write(pipe: redis.client.Pipeline) -> None:
        if pipe.hget(original, "status") in PENDING_STATUSES:
            raise Conflict(f"job {entry.jobId} is already waiting or running; not replayed")
        pipe.multi()
        pipe.delete(original)
        pipe.zrem(registry_key("failed", entry.queue), entry.jobId)
        job = build_job(
            client,
            settings,
            entry.queue,
            entry.data,
            job_function(settings, entry),
            job_id=entry.jobId,
        )
        persist(pipe, entry.queue, job)
        pipe.hset(original, "sidecar_replayed_from", entry.id)
        _remove(pipe, settings, entry.id)

    with translate():
        client.transaction(write, original, JOB_PREFIX + entry.id)
    return entry


def replay_all(
    client: redis.Redis, settings: Settings, queue: str | None, progress: object = None
) -> tuple[int, int]:
    """Replay every entry (of `queue`, if given); (replayed, skipped as still pending)."""
    entries, _ = list_entries(client, settings, queue, 0, SCAN_LIMIT)
    replayed = skipped = 0
    for entry in entries:
        try:
            replay(client, settings, entry.id)
            replayed += 1
        except (Conflict, NotFound):
            skipped += 1
        if callable(progress):
            progress(1)
    return replayed, skipped


def delete(client: redis.Redis, settings: Settings, entry_id: str) -> None:
    """Delete one entry; NotFound when there is none."""
    get_entry(client, entry_id)
    with translate(), client.pipeline(transaction=True) as pipe:
        _remove(pipe, settings, entry_id)
        pipe.execute()


def purge(client: redis.Redis, settings: Settings, queue: str | None) -> int:
    """Delete every entry (of `queue`, if given); how many were deleted."""
    entries, _ = list_entries(client, settings, queue, 0, SCAN_LIMIT)
    with translate(), client.pipeline(transaction=True) as pipe:
        for entry in entries:
            _remove(pipe, settings, entry.id)
        pipe.execute()
    return len(entries)


def _remove(pipe: redis.client.Pipeline, settings: Settings, entry_id: str) -> None:
    pipe.lrem(_dlq_key(settings), 1, entry_id)
    pipe.delete(JOB_PREFIX + entry_id)
