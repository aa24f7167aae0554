"""The periodic duties every worker runs (sidecar/worker/maintenance.py and its Lua scripts),
called in-process against the real session redis: promote due retries, recover stalled jobs,
dead-letter jobs stalled too often — safely when several workers do it at once."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from support.queues import INBOUND, dead_letters, status

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.scripts import Scripts
from sidecar.queues.jobs import (
    JOB_PREFIX,
    enqueue_payload,
    locks_key,
    parse_taken,
    queue_key,
    registry_key,
    rq_now,
)
from sidecar.queues.overview import paused_key, set_paused
from sidecar.settings import Settings, load_settings
from sidecar.worker import maintenance
from sidecar.worker.ledger import Ledger

PAYLOAD = {"method": "POST", "path": "/webhook/x", "query": "", "headers": [], "body": ""}


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(REDIS_URL=redis_url, SIDECAR_MAX_STALLED_COUNT=1)


def take(client: redis.Redis, n: int, lock_deadline: float, exec_id: str = "exec1") -> list:
    """Take `n` jobs with dequeue.lua, as a worker does."""
    flat = Scripts(client).dequeue(
        keys=[
            queue_key(INBOUND),
            registry_key("wip", INBOUND),
            locks_key(INBOUND),
            "sidecar:limit:test",
            paused_key(INBOUND),
        ],
        args=[
            n,
            lock_deadline,
            time.time() + 3600,
            rq_now(),
            "w",
            exec_id,
            JOB_PREFIX,
            DEFAULT_KEYS.delivered_prefix,
            1_000_000,  # no delivery limit here
            60_000,
        ],
    )
    return parse_taken(INBOUND, flat)


def test_dequeue_marks_jobs_started_and_locks_them(rdb: redis.Redis, settings: Settings) -> None:
    ids = [enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(3)]

    taken = take(rdb, 2, lock_deadline=time.time() + 30)

    assert [job.id for job in taken] == ids[:2]
    assert [job.attempt for job in taken] == [1, 1]
    assert taken[0].payload == PAYLOAD
    assert [status(rdb, job_id) for job_id in ids] == ["started", "started", "queued"]
    assert rdb.zcard(locks_key(INBOUND)) == 2
    assert {m.decode() for m in rdb.zrange(registry_key("wip", INBOUND), 0, -1)} == {
        f"{ids[0]}:exec1",
        f"{ids[1]}:exec1",
    }


def test_dequeue_takes_nothing_from_a_paused_queue(rdb: redis.Redis, settings: Settings) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    set_paused(rdb, INBOUND, True)

    assert take(rdb, 1, lock_deadline=time.time() + 30) == []
    assert status(rdb, job_id) == "queued"

    set_paused(rdb, INBOUND, False)
    assert [job.id for job in take(rdb, 1, lock_deadline=time.time() + 30)] == [job_id]


def test_stalled_job_goes_back_to_the_front_without_using_an_attempt(
    rdb: redis.Redis, settings: Settings
) -> None:
    first, second = (enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(2))
    take(rdb, 1, lock_deadline=time.time() - 1)  # its worker died: the lock already lapsed
    ledger = Ledger(rdb, Scripts(rdb), settings, "sweeper")

    assert maintenance.recover_stalled(Scripts(rdb), ledger, [INBOUND]) == (1, 0)

    assert [i.decode() for i in rdb.lrange(queue_key(INBOUND), 0, -1)] == [first, second]
    assert status(rdb, first) == "queued"
    assert rdb.hget(JOB_PREFIX + first, "sidecar_attempt") == b"0"
    assert rdb.hget(JOB_PREFIX + first, "sidecar_stalled") == b"1"
    (event,) = [f for _, f in rdb.xrange("sidecar:events") if f[b"type"] == b"stalled"]
    assert json.loads(event[b"data"]) == {"queue": INBOUND, "requeued": 1, "deadLettered": 0}
    assert rdb.zcard(locks_key(INBOUND)) == 0
    assert rdb.zcard(registry_key("wip", INBOUND)) == 0


def test_a_live_lock_is_left_alone(rdb: redis.Redis, settings: Settings) -> None:
    enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    (job,) = take(rdb, 1, lock_deadline=time.time() + 30)
    ledger = Ledger(rdb, Scripts(rdb), settings, "sweeper")

    assert maintenance.recover_stalled(Scripts(rdb), ledger, [INBOUND]) == (0, 0)
    assert status(rdb, job.id) == "started"


def test_heartbeat_extends_only_locks_still_held(rdb: redis.Redis, settings: Settings) -> None:
    enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    (job,) = take(rdb, 1, lock_deadline=time.time() + 0.5)

    maintenance.extend_locks(rdb, settings, {job.id: INBOUND, "gone": INBOUND})

    assert rdb.zscore(locks_key(INBOUND), job.id) > time.time() + settings.lock_seconds - 5
    assert rdb.zscore(locks_key(INBOUND), "gone") is None  # a swept lock is not re-created


def test_job_stalled_more_than_the_maximum_is_dead_lettered(
    rdb: redis.Redis, settings: Settings
) -> None:
    job_id = enqueue_payload(rdb, settings, INBOUND, PAYLOAD)
    ledger = Ledger(rdb, Scripts(rdb), settings, "sweeper")

    outcomes = []
    for _ in range(2):  # SIDECAR_MAX_STALLED_COUNT=1: the second stall is one too many
        take(rdb, 1, lock_deadline=time.time() - 1)
        outcomes.append(maintenance.recover_stalled(Scripts(rdb), ledger, [INBOUND]))

    assert outcomes == [(1, 0), (0, 1)]
    (entry,) = dead_letters(rdb)
    assert (entry["jobId"], entry["queue"], entry["data"]) == (job_id, INBOUND, PAYLOAD)
    assert status(rdb, job_id) == "failed"
    assert rdb.llen(queue_key(INBOUND)) == 0
    assert rdb.llen(DEFAULT_KEYS.stalled_out) == 0


def test_concurrent_sweepers_dead_letter_each_job_once(
    redis_url: str, rdb: redis.Redis, settings: Settings
) -> None:
    ids = [enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(40)]
    take(rdb, 40, lock_deadline=time.time() - 1)
    for job_id in ids:  # each already stalled once: the next sweep dead-letters it
        rdb.hset(JOB_PREFIX + job_id, "sidecar_stalled", 1)
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    ledgers = [Ledger(c, Scripts(c), settings, f"sweeper{n}") for n, c in enumerate(clients)]
    start = threading.Barrier(len(ledgers))

    def sweep(ledger: Ledger) -> None:
        start.wait()
        maintenance.recover_stalled(ledger.scripts, ledger, [INBOUND])
        maintenance.drain_stalled_out(ledger)

    threads = [threading.Thread(target=sweep, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(entry["jobId"] for entry in dead_letters(rdb)) == sorted(ids)
    assert {status(rdb, job_id) for job_id in ids} == {"failed"}
    assert rdb.llen(DEFAULT_KEYS.stalled_out) == 0
    for client in clients:
        client.close()


def test_due_retries_are_promoted_and_later_ones_wait(rdb: redis.Redis, settings: Settings) -> None:
    due, later = (enqueue_payload(rdb, settings, INBOUND, PAYLOAD) for _ in range(2))
    rdb.delete(queue_key(INBOUND))
    rdb.zadd(registry_key("scheduled", INBOUND), {due: time.time() - 1, later: time.time() + 60})

    assert maintenance.promote_due(Scripts(rdb), [INBOUND]) == 1

    assert [i.decode() for i in rdb.lrange(queue_key(INBOUND), 0, -1)] == [due]
    assert status(rdb, due) == "queued"
    assert [m.decode() for m in rdb.zrange(registry_key("scheduled", INBOUND), 0, -1)] == [later]
