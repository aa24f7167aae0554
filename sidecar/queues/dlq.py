"""The dead-letter queue `{prefix}:dead-letter`: RQ jobs holding what could not be delivered.

Each entry's payload is {"queue", "jobId", "data", "error", "attempts", "failedAt"}. Entries
are never run by workers; `dlq replay` (deadletters.py) puts them back on their queue.

Beside RQ's job hash and queue list, each entry has (all bounded with the entries):
* its summary (every field but `data`, JSON) in the hash field `sidecar_dlq`, so listings
  never read payloads;
* a member in KeySchema.dlq_by_queue(queue) (zset, score = when it was written), for listings
  by queue;
* KeySchema.dlq_index(original job id) -> entry id, so the id a sender got in its 202 finds
  the entry.
Retention: the hash and the index key expire after SIDECAR_DLQ_MAX_AGE_SECONDS, and
`trim_dead_letters` (every worker, once a second) keeps at most SIDECAR_DLQ_MAX_ENTRIES and
drops what expired from the list and the zsets; entries of earlier versions are adopted
once (`adopt_legacy_entries`). With SIDECAR_ENCRYPTION_KEY the error text
(it holds n8n's answer body) is sealed like the payload: {"sealed": token}.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zlib
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from redis.commands.core import Script

from sidecar.backend.keys import KeySchema, keys_for, keys_for_queue
from sidecar.backend.scripts import source
from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.queues.jobs import (
    JOB_PREFIX,
    build_job,
    decode_data,
    encode_data,
    persist,
    queue_key,
)
from sidecar.queues.names import all_queues, dead_letter_queue
from sidecar.settings import Settings

DEAD_LETTER_FUNC = "sidecar.queues.dlq.dead_letter_entry"
SUMMARY_FIELD = "sidecar_dlq"
SUMMARY_KEYS = ("queue", "jobId", "error", "attempts", "failedAt")
UNREGISTERED = "unregistered_webhook"
TRIM_BATCH = 1000
SEALED_ERROR = "(error text sealed: no configured SIDECAR_ENCRYPTION_KEY opens it)"


def dead_letter_entry(entry: dict) -> None:
    """Job function of dead-letter entries: they are kept, not run."""
    raise RuntimeError("dead-letter entries are not run; replay them with `n8n-sidecar dlq replay`")


def dlq_key(settings: Settings) -> str:
    """RQ's list of dead-letter entry ids, oldest first."""
    return queue_key(dead_letter_queue(settings.queue_prefix))


def by_queue_key(queue: str) -> str:
    """The zset of the entries of `queue` (score: when each was written)."""
    return keys_for_queue(queue).dlq_by_queue(queue)


def index_key(settings: Settings, job_id: str) -> str:
    """original job id -> entry id."""
    return keys_for(settings).dlq_index(job_id)


def entry_for(queue: str, job_id: str, payload: dict, error: str, attempts: int) -> dict:
    """The dead-letter payload of SPEC §5: queue, data, error, attempts, failedAt."""
    return {
        "queue": queue,
        "jobId": job_id,
        "data": payload,
        "error": error,
        "attempts": attempts,
        "failedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def seal_error(cipher: PayloadCipher, error: str) -> str | dict:
    """The error text as stored: {"sealed": token} when payloads are encrypted."""
    return cipher.seal({"text": error}) if cipher.enabled else error


def open_error(cipher: PayloadCipher, stored: object) -> str:
    """The error text of a stored entry (sealed or not)."""
    if not isinstance(stored, dict):
        return str(stored or "")
    try:
        return str(cipher.unseal(stored).get("text", ""))
    except UnreadablePayload:
        return SEALED_ERROR


def add_dead_letter(client: redis.Redis, pipe: Pipeline, settings: Settings, entry: dict) -> str:
    """Queue a dead-letter entry, its summary, index and expiry on `pipe` (written when the
    pipeline executes); the error text is sealed when an encryption key is set."""
    cipher = PayloadCipher(settings.encryption_keys)
    entry = {**entry, "error": seal_error(cipher, entry["error"])}
    queue = dead_letter_queue(settings.queue_prefix)
    description = f"dead letter of {entry['queue']} job {entry['jobId']}"
    job = build_job(client, settings, queue, entry, DEAD_LETTER_FUNC, description)
    persist(pipe, queue, job)
    ttl = math.ceil(settings.dlq_max_age_seconds)
    summary = {key: entry[key] for key in SUMMARY_KEYS}
    pipe.hset(JOB_PREFIX + job.id, SUMMARY_FIELD, json.dumps(summary, separators=(",", ":")))
    pipe.expire(JOB_PREFIX + job.id, ttl)
    pipe.zadd(by_queue_key(entry["queue"]), {job.id: time.time()})
    pipe.set(index_key(settings, entry["jobId"]), job.id, ex=ttl)
    return job.id


def adopt_legacy_entries(client: redis.Redis, settings: Settings) -> int:
    """Once per Redis: give entries written before summaries existed their summary, zset
    member, index key and expiry (counted from their failedAt), sealing their error text
    when a key is set. Reads each such entry's payload once; the marker KeySchema.dlq_adopted says
    it is done. How many entries were adopted."""
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


def is_unregistered(status: int | None, error: str) -> bool:
    """n8n's "webhook is not registered" answer (a 404 naming the webhook)."""
    return status == 404 and "is not registered" in error


def unregistered_counts(client: redis.Redis, keys: KeySchema, paths: list[str]) -> list[int]:
    """Count one more unregistered-webhook dead letter for each of `paths` in the current
    hour (fixed windows, one key per path and hour); the counts after counting."""
    hour = int(time.time() // 3600)
    with client.pipeline(transaction=False) as pipe:
        for path in paths:
            key = keys.dlq_unregistered(hashlib.sha256(path.encode()).hexdigest()[:32], hour)
            pipe.incr(key)
            pipe.expire(key, 3600)
        replies = pipe.execute()
    return [int(count) for count in replies[::2]]


def count_dropped(pipe: Pipeline, keys: KeySchema, reason: str) -> None:
    """One dead letter not kept, for `reason` (sidecar_dlq_dropped_total{reason})."""
    pipe.hincrby(keys.dlq_dropped, reason, 1)


def dropped_counts(client: redis.Redis, keys: KeySchema) -> dict[str, int]:
    """Dead letters not kept so far, per reason."""
    return {k.decode(): int(v) for k, v in client.hgetall(keys.dlq_dropped).items()}
