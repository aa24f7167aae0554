"""The key schema (sidecar/backend/keys.py): the default SIDECAR_QUEUE_PREFIX keeps the key
names of earlier versions exactly, and sidecars with different prefixes sharing one Redis
database never write the same key."""

from __future__ import annotations

import pytest
import redis

from sidecar.alerts import Alert, Alerter
from sidecar.backend import rq_layout
from sidecar.backend.keys import DEFAULT_KEYS, keys_for, keys_for_prefix, keys_for_queue
from sidecar.capture import CapturedRequest
from sidecar.errors import Duplicate, RateLimited
from sidecar.mode.local_store import open_store
from sidecar.mode.rate import RateCounter
from sidecar.queues.intake import Intake
from sidecar.settings import load_settings

Q = "flrts:webhooks:inbound"

# Every key the sidecar owns, as earlier versions named them (data written by them is read).
TODAY = {
    DEFAULT_KEYS.mode: "sidecar:mode",
    DEFAULT_KEYS.mode_controller: "sidecar:mode:controller",
    DEFAULT_KEYS.mode_signals: "sidecar:mode:signals",
    DEFAULT_KEYS.mode_history: "sidecar:mode:history",
    DEFAULT_KEYS.mode_evaluator: "sidecar:mode:evaluator",
    DEFAULT_KEYS.latency: "sidecar:latency",
    DEFAULT_KEYS.rate_bucket(60.0, 7): "sidecar:rate:60:7",
    DEFAULT_KEYS.rate_bucket(0.5, 7): "sidecar:rate:0.5:7",
    DEFAULT_KEYS.history_prefix + "signals": "sidecar:history:signals",
    DEFAULT_KEYS.alert("mode_changed", "x"): "sidecar:alert:mode_changed:x",
    DEFAULT_KEYS.events: "sidecar:events",
    DEFAULT_KEYS.workers: "sidecar:workers",
    DEFAULT_KEYS.pace: "sidecar:pace",
    DEFAULT_KEYS.n8n_circuit: "sidecar:n8n:circuit",
    DEFAULT_KEYS.n8n_probe: "sidecar:n8n:probe",
    DEFAULT_KEYS.n8n_recovered: "sidecar:n8n:recovered",
    DEFAULT_KEYS.stalled_out: "sidecar:stalled-out",
    DEFAULT_KEYS.delivered("j1"): "sidecar:delivered:j1",
    DEFAULT_KEYS.backlog_full: "sidecar:backlog_full",
    DEFAULT_KEYS.no_claim: "sidecar:dedup:none",
    DEFAULT_KEYS.no_window: "sidecar:ratelimit:none",
    DEFAULT_KEYS.dlq_index("j1"): "sidecar:dlq:job:j1",
    DEFAULT_KEYS.dlq_dropped: "sidecar:dlq:dropped",
    DEFAULT_KEYS.dlq_unregistered("ab12", 5): "sidecar:dlq:unregistered:ab12:5",
    DEFAULT_KEYS.dlq_adopted: "sidecar:dlq:adopted",
    DEFAULT_KEYS.durable_ack: "flrts:durable-ack",
    DEFAULT_KEYS.locks(Q): f"sidecar:locks:{Q}",
    DEFAULT_KEYS.limit(Q, 9): f"sidecar:limit:{Q}:9",
    DEFAULT_KEYS.paused(Q): f"sidecar:paused:{Q}",
    DEFAULT_KEYS.drained(Q, 9): f"sidecar:drained:{Q}:9",
    DEFAULT_KEYS.wake(Q): f"sidecar:wake:{Q}",
    DEFAULT_KEYS.stats(Q, 9): f"sidecar:stats:{Q}:9",
    DEFAULT_KEYS.durations(Q): f"sidecar:durations:{Q}",
    DEFAULT_KEYS.dedup(Q, "id"): (
        f"sidecar:dedup:{Q}:a56145270ce6b3bebd1dd012b73948677dd618d496488bc608a3cb43ce3547dd"
    ),
    DEFAULT_KEYS.ratelimit(Q, "3/60", "alice"): f"sidecar:ratelimit:{Q}:3/60:alice",
    DEFAULT_KEYS.dlq_by_queue(Q): f"sidecar:dlq:queue:{Q}",
}


def test_the_default_prefix_keeps_todays_key_names() -> None:
    assert {built: built for built in TODAY} == TODAY
    assert keys_for(load_settings(_env_file=None)) is DEFAULT_KEYS
    assert keys_for_queue(Q) is DEFAULT_KEYS


def test_another_prefix_has_its_own_namespace() -> None:
    acme = keys_for_prefix("acme")
    assert acme.namespace == "sidecar@acme"
    assert acme.mode == "sidecar@acme:mode"
    assert acme.locks("acme:webhooks:inbound") == "sidecar@acme:locks:acme:webhooks:inbound"
    assert keys_for_queue("acme:tasks:create") is acme
    assert keys_for_prefix("mode").mode_controller != DEFAULT_KEYS.mode_controller


@pytest.mark.parametrize("prefix", ["flrts", "acme", "a.b-c_1"])
def test_no_key_of_one_prefix_is_a_key_of_another(prefix: str) -> None:
    mine, other = keys_for_prefix(prefix), keys_for_prefix(prefix + "x")
    assert not mine.mode.startswith(other.namespace + ":")
    assert not other.mode.startswith(mine.namespace + ":")


def run_one_sidecar(rdb: redis.Redis, prefix: str, mode: str) -> None:
    """Intake (a job, a duplicate, a rate-limited one: dedup, rate limit, events), a pin of
    `mode`, an alert and the webhook rate, as one sidecar with `prefix` does them."""
    settings = load_settings(
        _env_file=None, SIDECAR_QUEUE_PREFIX=prefix, SIDECAR_USER_RATE_LIMIT="1"
    )
    keys = keys_for(settings)
    intake = Intake(rdb, settings)
    hook = CapturedRequest("POST", "/webhook/x", "", [("X-User-Id", "ann")], b"1")
    intake.enqueue(hook)
    with pytest.raises(Duplicate):
        intake.enqueue(hook)
    with pytest.raises(RateLimited):
        intake.enqueue(CapturedRequest("POST", "/webhook/x", "", [("X-User-Id", "ann")], b"2"))
    open_store(rdb, keys).pin(mode, by="test")
    Alerter.from_settings(settings, rdb).emit(Alert("mode_changed", "info", "m"), subject="s")
    rate = RateCounter()
    rate.record(3)
    rate.flush(rdb, keys)


SHARED = {b"rq:queues"}  # RQ's own set of every queue's key: one per Redis, by design


def test_two_prefixes_on_one_database_write_disjoint_keys(rdb: redis.Redis) -> None:
    run_one_sidecar(rdb, "flrts", "queue")
    default = set(rdb.keys("*")) - SHARED
    rdb.flushdb()
    run_one_sidecar(rdb, "acme", "single")
    acme = set(rdb.keys("*")) - SHARED
    assert not default & acme
    owned = {k for k in acme if not k.startswith(b"rq:")}  # RQ's keys: by queue and job id
    assert len(owned) >= 8 and all(k.startswith(b"sidecar@acme:") for k in owned)
    assert all(k.startswith((b"sidecar:", b"rq:")) for k in default)


def test_two_prefixes_on_one_database_keep_their_own_state(rdb: redis.Redis) -> None:
    run_one_sidecar(rdb, "flrts", "queue")
    run_one_sidecar(rdb, "acme", "single")  # the same webhook: no duplicate across prefixes
    flrts, acme = DEFAULT_KEYS, keys_for_prefix("acme")
    assert open_store(rdb, flrts).read().mode == "queue"
    assert open_store(rdb, acme).read().mode == "single"
    assert rdb.xlen(flrts.events) == rdb.xlen(acme.events) == 3  # duplicate, limited, alert
    assert (
        rdb.llen(rq_layout.queue_key(Q))
        == rdb.llen(rq_layout.queue_key("acme:webhooks:inbound"))
        == 1
    )
