"""Reading the dead-letter queue: list a page, the newest, show one.

A dead letter is an RQ job on `{prefix}:dead-letter` whose argument is
{"queue", "jobId", "data", "error", "attempts", "failedAt"} (see entries.py). Listings read
only the summary kept beside it (never the payload) and page through the list, or through
the queue's zset, by index. An entry is found by its own id or by the original job's id.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import redis

from sidecar.backend.connection import translate
from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.errors import NotFound
from sidecar.queues.deadletters.entries import (
    SUMMARY_FIELD,
    by_queue_key,
    dlq_key,
    index_key,
    open_error,
)
from sidecar.queues.deadletters.retention import trim_dead_letters, trim_script
from sidecar.queues.jobs import JOB_PREFIX, decode_data
from sidecar.settings import Settings


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


def parse_summary(
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
        raws = summaries(client, ids)
    entries = [parse_summary(cipher, i, raw) for i, raw in zip(ids, raws, strict=True)]
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


def summaries(client: redis.Redis, ids: list[str]) -> list[bytes | None]:
    """The summary fields of entries `ids` (None where an entry is gone), one round trip."""
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
    return parse_summary(cipher, entry_id, raw, decode_data(data).get("data", {}))


def all_ids(client: redis.Redis, settings: Settings, queue: str | None) -> list[str]:
    """Every entry id (of `queue`), oldest first: at most about SIDECAR_DLQ_MAX_ENTRIES."""
    with translate():
        raw = (
            client.zrange(by_queue_key(queue), 0, -1)
            if queue
            else client.lrange(dlq_key(settings), 0, -1)
        )
    return [i.decode() for i in raw]
