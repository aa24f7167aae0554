"""Dead-letter retention: at most SIDECAR_DLQ_MAX_ENTRIES entries, none older than
SIDECAR_DLQ_MAX_AGE_SECONDS (`trim_dead_letters`, backend/lua/trim_dead_letters.lua), and the
one-time adoption of entries written by earlier versions (`adopt_legacy_entries`).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from datetime import datetime

import redis
from redis.client import Pipeline
from redis.commands.core import Script

from sidecar.backend.keys import keys_for
from sidecar.backend.queue_names import all_queues
from sidecar.backend.scripts import source
from sidecar.crypto import PayloadCipher
from sidecar.queues.deadletters.entries import (
    DEAD_LETTER_FUNC,
    SUMMARY_FIELD,
    SUMMARY_KEYS,
    TRIM_BATCH,
    by_queue_key,
    dlq_key,
    index_key,
    seal_error,
)
from sidecar.queues.jobs import JOB_PREFIX, decode_data, encode_data
from sidecar.settings import Settings


def adopt_legacy_entries(client: redis.Redis, settings: Settings) -> int:
    """Once per Redis: give entries written before summaries existed their summary, zset
    member, index key and expiry (counted from their failedAt), sealing their error text
    when a key is set. Reads each such entry's payload once; the marker KeySchema.dlq_adopted
    says it is done. How many entries were adopted."""
    if client.exists(keys_for(settings).dlq_adopted):
        return 0
    newest = client.lrange(dlq_key(settings), -settings.dlq_max_entries, -1)  # the rest: trimmed
    ids = [i.decode() for i in newest]
    adopted = 0
    for start in range(0, len(ids), TRIM_BATCH):
        chunk = ids[start : start + TRIM_BATCH]
        with client.pipeline(transaction=False) as pipe:
            for entry_id in chunk:
                pipe.hmget(JOB_PREFIX + entry_id, SUMMARY_FIELD, "data")
            rows = pipe.execute()
        with client.pipeline(transaction=False) as pipe:
            for entry_id, (summary, data) in zip(chunk, rows, strict=True):
                entry = _legacy_entry(data) if summary is None else None
                if entry is not None:
                    adopted += _adopt(pipe, settings, entry_id, entry)
            pipe.execute()
    client.set(keys_for(settings).dlq_adopted, 1)
    return adopted


def _legacy_entry(data: bytes | None) -> dict | None:
    """An entry of an earlier version, or None when it cannot be read (left to the count
    and age limits)."""
    try:
        entry = decode_data(data) if data is not None else None
    except (zlib.error, ValueError, TypeError, IndexError):
        return None
    if not isinstance(entry, dict) or not {"queue", "jobId"} <= entry.keys():
        return None
    return entry


def _adopt(pipe: Pipeline, settings: Settings, entry_id: str, entry: dict) -> int:
    """Adopt one entry (1), or delete it when it is older than the maximum age (0)."""
    cipher = PayloadCipher(settings.encryption_keys)
    if not isinstance(entry.get("error"), dict):
        entry = {**entry, "error": seal_error(cipher, str(entry.get("error", "")))}
    try:
        failed_at = datetime.fromisoformat(entry["failedAt"]).timestamp()
    except (KeyError, TypeError, ValueError):
        failed_at = time.time()
    ttl = math.ceil(failed_at + settings.dlq_max_age_seconds - time.time())
    key = JOB_PREFIX + entry_id
    if ttl <= 0:
        pipe.lrem(dlq_key(settings), 1, entry_id)
        pipe.delete(key)
        return 0
    summary = {name: entry.get(name, "") for name in SUMMARY_KEYS}
    stored = {"data": encode_data(DEAD_LETTER_FUNC, entry), SUMMARY_FIELD: json.dumps(summary)}
    pipe.hset(key, mapping=stored)
    pipe.expire(key, ttl)
    pipe.zadd(by_queue_key(entry["queue"]), {entry_id: failed_at})
    pipe.set(index_key(settings, entry["jobId"]), entry_id, ex=ttl)
    return 1


def trim_dead_letters(script: Script, settings: Settings) -> int:
    """Enforce SIDECAR_DLQ_MAX_ENTRIES and drop expired entries from the list and the zsets
    (lua/trim_dead_letters.lua, at most TRIM_BATCH per call); how many ids were removed."""
    zsets = [by_queue_key(queue) for queue in all_queues(settings.queue_prefix)]
    args = [
        settings.dlq_max_entries,
        time.time() - settings.dlq_max_age_seconds,
        JOB_PREFIX,
        keys_for(settings).dlq_index_prefix,
        SUMMARY_FIELD,
        TRIM_BATCH,
        keys_for(settings).dlq_by_queue_prefix,
    ]
    return int(script(keys=[dlq_key(settings), *zsets], args=args))


def trim_script(client: redis.Redis) -> Script:
    """lua/trim_dead_letters.lua bound to `client` (for callers without a Scripts)."""
    return client.register_script(source("trim_dead_letters"))
