"""A dead letter as stored, its keys, and writing one: RQ jobs on `{prefix}:dead-letter`
holding what could not be delivered.

Each entry's payload is {"queue", "jobId", "data", "error", "attempts", "failedAt"}. Entries
are never run by workers; `dlq replay` (actions.py) puts them back on their queue. The entry's
job is written by the intake (sidecar/queues/intake.py, `put_stored`).

Beside RQ's job hash and queue list, each entry has (all bounded with the entries):
* its summary (every field but `data`, JSON) in the hash field `sidecar_dlq`, so listings
  never read payloads;
* a member in KeySchema.dlq_by_queue(queue) (zset, score = when it was written), for listings
  by queue;
* KeySchema.dlq_index(original job id) -> entry id, so the id a sender got in its 202 finds
  the entry.
Retention: the hash and the index key expire after SIDECAR_DLQ_MAX_AGE_SECONDS, and
`trim_dead_letters` (retention.py, every worker, once a second) keeps at most
SIDECAR_DLQ_MAX_ENTRIES and drops what expired from the list and the zsets; entries of
earlier versions are adopted once (`adopt_legacy_entries`). With SIDECAR_ENCRYPTION_KEY the
error text (it holds n8n's answer body) is sealed like the payload: {"sealed": token}.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime

import redis
from redis.client import Pipeline

from sidecar.backend.keys import keys_for, keys_for_queue
from sidecar.backend.queue_names import dead_letter_queue
from sidecar.crypto import PayloadCipher, UnreadablePayload
from sidecar.queues.intake import put_stored
from sidecar.queues.jobs import JOB_PREFIX, queue_key
from sidecar.settings import Settings

# the RQ function every entry's job hash names: stored data, so the old dotted name stays
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
    entry_id = put_stored(client, pipe, settings, queue, entry, DEAD_LETTER_FUNC, description)
    ttl = math.ceil(settings.dlq_max_age_seconds)
    summary = {key: entry[key] for key in SUMMARY_KEYS}
    pipe.hset(JOB_PREFIX + entry_id, SUMMARY_FIELD, json.dumps(summary, separators=(",", ":")))
    pipe.expire(JOB_PREFIX + entry_id, ttl)
    pipe.zadd(by_queue_key(entry["queue"]), {entry_id: time.time()})
    pipe.set(index_key(settings, entry["jobId"]), entry_id, ex=ttl)
    return entry_id
