"""Reading and acting on the dead-letter queue: list, show, replay, delete, purge.

A dead letter is an RQ job on `{prefix}:dead-letter` whose argument is
{"queue", "jobId", "data", "error", "attempts", "failedAt"} (see dlq.py). Listings read only
the summary kept beside it (never the payload) and page through the list, or through the
queue's zset, by index. An entry is found by its own id or by the original job's id.
Replaying puts the original job back on its queue under its ORIGINAL id, with fresh
attempts, so n8n sees the same Idempotency-Key; a job that is still waiting, scheduled or
running is never duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import redis

from sidecar.backend.connection import translate
from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.errors import Conflict, NotFound
from sidecar.queues.dlq import (
    SUMMARY_FIELD,
    by_queue_key,
    dlq_key,
    index_key,
    open_error,
    trim_dead_letters,
    trim_script,
)
from sidecar.queues.jobs import (
    DELIVER_FUNC,
    JOB_PREFIX,
    build_job,
    decode_data,
    persist,
    registry_key,
)
from sidecar.settings import Settings
from sidecar.typed.processors import RUN_FUNC, is_typed

PENDING_STATUSES = frozenset({b"queued", b"started", b"scheduled"})
BATCH = 500


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter entry: `id` is the entry's own id, `jobId` the original job's; `data`
    (the captured request, as stored) only when the entry was loaded whole."""

    id: str
    queue: str
    jobId: str
    error: str
    attempts: int
    failedAt: str
    data: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The entry without its captured request (for listings)."""
        return {k: v for k, v in asdict(self).items() if k != "data"}


def _parse_summary(
    cipher: PayloadCipher, entry_id: str, raw: bytes | None, data: dict | None = None
) -> DeadLetter | None:
    """The entry from its summary field (None when it has none, or an unreadable one)."""
    try:
        summary = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(summary, dict) or not {"queue", "jobId"} <= summary.keys():
        return None
    return DeadLetter(
        id=entry_id,
        queue=summary["queue"],
        jobId=summary["jobId"],
        error=open_error(cipher, summary.get("error", "")),
        attempts=int(summary.get("attempts", 0)),
        failedAt=summary.get("failedAt", ""),
        data=data or {},
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
    """A page of entries, oldest first, optionally only those of `queue`; (page, total).

    Reads `limit` summaries at most, never a payload (expired entries are dropped first)."""
    return _read_page(client, settings, queue, offset, offset + limit - 1)


def _read_page(
    client: redis.Redis, settings: Settings, queue: str | None, first: int, last: int
) -> tuple[list[DeadLetter], int]:
    """Entries first..last (list positions, negative from the end) after a trim; (page, total)."""
    cipher = PayloadCipher(settings.encryption_keys)
    with translate():
        trim_dead_letters(trim_script(client), settings)
        ids, total = _page_ids(client, settings, queue, first, last)
        raws = _summaries(client, ids)
    entries = [_parse_summary(cipher, i, raw) for i, raw in zip(ids, raws, strict=True)]
    return [e for e in entries if e is not None], total


def newest_entries(
    client: redis.Redis, settings: Settings, count: int
) -> tuple[list[DeadLetter], int]:
    """The newest `count` entries, newest first, and the total; summaries only."""
    entries, total = _read_page(client, settings, None, -count, -1)
    return entries[::-1], total


def _page_ids(
    client: redis.Redis, settings: Settings, queue: str | None, first: int, last: int
) -> tuple[list[str], int]:
    """Entry ids first..last (inclusive) of the whole list or of `queue`, and their total."""
    with client.pipeline(transaction=False) as pipe:
        if queue:
            pipe.zrange(by_queue_key(queue), first, last).zcard(by_queue_key(queue))
        else:
            pipe.lrange(dlq_key(settings), first, last).llen(dlq_key(settings))
        ids, total = pipe.execute()
    return [i.decode() for i in ids], int(total)


def _summaries(client: redis.Redis, ids: list[str]) -> list[bytes | None]:
    with client.pipeline(transaction=False) as pipe:
        for entry_id in ids:
            pipe.hget(JOB_PREFIX + entry_id, SUMMARY_FIELD)
        return pipe.execute()


def get_entry(client: redis.Redis, settings: Settings, given: str) -> DeadLetter:
    """One entry, whole, by its id or its original job's id; NotFound for anything else
    (a live job's id included)."""
    entry = None
    if given.isalnum():
        with translate():
            entry = _load(client, settings, given)
            if entry is None:
                target = client.get(index_key(settings, given))
                entry = _load(client, settings, target.decode()) if target else None
    if entry is None:
        raise NotFound(f"no dead letter with id {given!r}")
    return entry


def _load(client: redis.Redis, settings: Settings, entry_id: str) -> DeadLetter | None:
    raw, data = client.hmget(JOB_PREFIX + entry_id, SUMMARY_FIELD, "data")
    if raw is None or data is None:
        return None
    cipher = PayloadCipher(settings.encryption_keys)
    return _parse_summary(cipher, entry_id, raw, decode_data(data).get("data", {}))


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
    for entry_id in _all_ids(client, settings, queue):
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
    ids = _all_ids(client, settings, queue)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with translate():
            raws = _summaries(client, chunk)
            with client.pipeline(transaction=True) as pipe:
                for entry_id, raw in zip(chunk, raws, strict=True):
                    entry = _parse_summary(cipher, entry_id, raw)
                    if entry is not None:
                        _remove(pipe, settings, entry)
                        deleted += 1
                pipe.execute()
    return deleted


def _all_ids(client: redis.Redis, settings: Settings, queue: str | None) -> list[str]:
    """Every entry id (of `queue`), oldest first: at most about SIDECAR_DLQ_MAX_ENTRIES."""
    with translate():
        raw = (
            client.zrange(by_queue_key(queue), 0, -1)
            if queue
            else client.lrange(dlq_key(settings), 0, -1)
        )
    return [i.decode() for i in raw]


def _remove(pipe: redis.client.Pipeline, settings: Settings, entry: DeadLetter) -> None:
    pipe.lrem(dlq_key(settings), 1, entry.id)
    pipe.zrem(by_queue_key(entry.queue), entry.id)
    pipe.delete(JOB_PREFIX + entry.id)
    pipe.delete(index_key(settings, entry.jobId))
