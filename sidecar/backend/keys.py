"""The one key schema: every Redis key the sidecar owns (not RQ's: see rq_layout.py).

All keys live under one namespace that follows SIDECAR_QUEUE_PREFIX:

* the default prefix `flrts` keeps the namespace `sidecar`, so keys are exactly those of
  earlier versions (`sidecar:mode`, `sidecar:locks:flrts:webhooks:inbound`, …);
* any other prefix P gives the namespace `sidecar@P` (`sidecar@acme:mode`, …). The `@`
  cannot occur in a prefix, nor follow `sidecar` in a default key, so no two prefixes
  share a key and two sidecars can share one Redis database.

Keys of one queue are built from the queue's own prefix (a queue name is
`{prefix}:{feature}:{operation}`), so a module holding only the queue name finds them:
`keys_for_queue(queue).locks(queue)`. The durable-ack marker keeps its historic
`{prefix}:durable-ack`, which already follows the prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from sidecar.settings import Settings

DEFAULT_PREFIX = "flrts"
BASE = "sidecar"


@dataclass(frozen=True)
class KeySchema:
    """The keys of one sidecar deployment (one SIDECAR_QUEUE_PREFIX)."""

    prefix: str
    namespace: str

    def key(self, *parts: str) -> str:
        """`{namespace}:{part}:{part}…`: the one place a sidecar key is joined."""
        return ":".join((self.namespace, *parts))

    # --- mode (mode/store.py, mode/lock.py) ---
    @property
    def mode(self) -> str:
        """Hash: mode, reason, since, pinned, pinned_by."""
        return self.key("mode")

    @property
    def mode_controller(self) -> str:
        """String: the controller's state JSON."""
        return self.key("mode", "controller")

    @property
    def mode_signals(self) -> str:
        """String: the evaluator's last sample JSON."""
        return self.key("mode", "signals")

    @property
    def mode_history(self) -> str:
        """List: mode switches, newest first."""
        return self.key("mode", "history")

    @property
    def mode_evaluator(self) -> str:
        """String: the evaluator lock's holder token."""
        return self.key("mode", "evaluator")

    # --- signals (mode/latency.py, mode/rate.py, mode/history.py, mode/alerts.py) ---
    @property
    def latency(self) -> str:
        """Zset of n8n execution latencies."""
        return self.key("latency")

    def rate_bucket(self, bucket_seconds: float, bucket: int) -> str:
        """Webhooks counted in one bucket of the rate window."""
        return self.key("rate", f"{bucket_seconds:g}", str(bucket))

    @property
    def history_prefix(self) -> str:
        """Prefix of the history series zsets (`{prefix}{series}`)."""
        return self.key("history", "")

    def alert(self, kind: str, subject: str) -> str:
        """An alert's cool-down marker."""
        return self.key("alert", kind, subject)

    @property
    def events(self) -> str:
        """The event stream."""
        return self.key("events")

    # --- workers (worker/registry.py, worker/*) ---
    @property
    def workers(self) -> str:
        """Zset: worker name -> last seen."""
        return self.key("workers")

    @property
    def pace(self) -> str:
        """Hash: worker name -> its delivery limit."""
        return self.key("pace")

    @property
    def n8n_circuit(self) -> str:
        """Hash: openedAt, reason, probes while n8n's circuit is open."""
        return self.key("n8n", "circuit")

    @property
    def n8n_probe(self) -> str:
        """Held by the worker probing n8n."""
        return self.key("n8n", "probe")

    @property
    def n8n_recovered(self) -> str:
        """Unix time of the circuit's last close."""
        return self.key("n8n", "recovered")

    @property
    def stalled_out(self) -> str:
        """List of stalled job ids to dead-letter."""
        return self.key("stalled-out")

    @property
    def delivered_prefix(self) -> str:
        """Prefix of the delivered markers (`{prefix}{job id}`), also handed to dequeue.lua."""
        return self.key("delivered", "")

    def delivered(self, job_id: str) -> str:
        """Set once a job was delivered."""
        return self.delivered_prefix + job_id

    # --- intake (queues/backpressure.py, guards/*) ---
    @property
    def backlog_full(self) -> str:
        """Hash: queue key -> webhooks refused because the queue was full."""
        return self.key("backlog_full")

    @property
    def no_claim(self) -> str:
        """Named to ingest.lua when a request has no dedup identity; never written."""
        return self.key("dedup", "none")

    @property
    def no_window(self) -> str:
        """Named to ingest.lua when a request has no rate-limit user; never written."""
        return self.key("ratelimit", "none")

    # --- dead letters (queues/deadletters/) ---
    @property
    def dlq_index_prefix(self) -> str:
        """Prefix of the index keys (`{prefix}{original job id}`), also handed to a script."""
        return self.key("dlq", "job", "")

    def dlq_index(self, job_id: str) -> str:
        """Original job id -> its dead-letter entry id."""
        return self.dlq_index_prefix + job_id

    @property
    def dlq_dropped(self) -> str:
        """Hash: reason -> dead letters not kept."""
        return self.key("dlq", "dropped")

    def dlq_unregistered(self, path_digest: str, hour: int) -> str:
        """Per path and hour: dead letters of n8n's "not registered" answers."""
        return self.key("dlq", "unregistered", path_digest, str(hour))

    @property
    def dlq_adopted(self) -> str:
        """Set once entries of earlier versions got their summaries."""
        return self.key("dlq", "adopted")

    @property
    def durable_ack(self) -> str:
        """The durable-ack probe marker (its historic name, already per prefix)."""
        return f"{self.prefix}:durable-ack"

    # --- one queue's keys (the queue name carries the prefix) ---
    def locks(self, queue: str) -> str:
        """Zset: job id -> lock deadline."""
        return self.key("locks", queue)

    def limit(self, queue: str, window: int) -> str:
        """Deliveries started in one fixed window."""
        return self.key("limit", queue, str(window))

    def paused(self, queue: str) -> str:
        """Set while an operator has paused the queue."""
        return self.key("paused", queue)

    def drained(self, queue: str, bucket: int) -> str:
        """Jobs taken from the queue in one bucket."""
        return self.key("drained", queue, str(bucket))

    def wake(self, queue: str) -> str:
        """One wake-up token for an idle worker."""
        return self.key("wake", queue)

    def stats(self, queue: str, minute: int) -> str:
        """Hash: one minute's processed/failed counts and durations."""
        return self.key("stats", queue, str(minute))

    def durations(self, queue: str) -> str:
        """Recent delivery durations."""
        return self.key("durations", queue)

    def dedup(self, queue: str, identity: str) -> str:
        """The dedup claim of one request identity."""
        return self.key("dedup", queue, hashlib.sha256(identity.encode()).hexdigest())

    def ratelimit(self, queue: str, window: str, user: str) -> str:
        """Admission times of one user in one rate-limit window (`{limit}/{window}`)."""
        return self.key("ratelimit", queue, window, user)

    @property
    def dlq_by_queue_prefix(self) -> str:
        """Prefix of the per-queue dead-letter zsets, also handed to a script."""
        return self.key("dlq", "queue", "")

    def dlq_by_queue(self, queue: str) -> str:
        """Zset: dead-letter entry id -> when written, per original queue."""
        return self.dlq_by_queue_prefix + queue


def namespace_of(prefix: str) -> str:
    """`sidecar` for the default prefix, `sidecar@{prefix}` for any other."""
    return BASE if prefix == DEFAULT_PREFIX else f"{BASE}@{prefix}"


@cache
def keys_for_prefix(prefix: str) -> KeySchema:
    """The key schema of SIDECAR_QUEUE_PREFIX `prefix` (one instance per prefix)."""
    return KeySchema(prefix, namespace_of(prefix))


def keys_for(settings: Settings) -> KeySchema:
    """The key schema of these settings."""
    return keys_for_prefix(settings.queue_prefix)


def keys_for_queue(queue: str) -> KeySchema:
    """The key schema of the sidecar a queue name (`{prefix}:…`) belongs to."""
    return keys_for_prefix(queue.partition(":")[0])


DEFAULT_KEYS = keys_for_prefix(DEFAULT_PREFIX)
