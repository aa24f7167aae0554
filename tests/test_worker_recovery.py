"""Workers that die or are stopped: stalled-job recovery and graceful SIGTERM.

Locks last SIDECAR_LOCK_SECONDS=1 and sweeps run every 0.5 s (see FAST_QUEUE_SETTINGS), so a
job whose worker was SIGKILLed is back on its queue within about 1.5 s.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rq.job import JobStatus
from support.queues import (
    INBOUND,
    counts,
    dead_letters,
    enqueue,
    fetch,
    received_for,
    status,
    wait_webhooks,
    webhooks,
)

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import ROOT, Gateway, sidecar_env
from sidecar.harness.waiting import wait_until

QUEUE = ("--queue", "webhooks:inbound")


@pytest.fixture
def held() -> Iterator[Reply]:
    """A reply n8n holds back until the test ends (the test kills the worker meanwhile)."""
    released = threading.Event()
    yield Reply(200, hold=released)
    released.set()


def test_job_of_a_killed_worker_is_delivered_by_another(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env, held: Reply
) -> None:
    n8n.script("/webhook/held", [held, Reply(200, body={"ok": True})])
    job_id = enqueue(queue_gateway, "/webhook/held", data=b"keep me")
    first = procs.worker(*QUEUE, **queue_env)
    wait_webhooks(n8n, 1, timeout=10)
    assert status(rdb, job_id) == "started"
    assert fetch(rdb, job_id).get_status() == JobStatus.STARTED
    assert counts(rdb)["started"] == 1

    first.kill()
    second = procs.worker(*QUEUE, **queue_env)
    # n8n still holds the first request until the test ends: redelivery does not wait for it
    wait_until(lambda: status(rdb, job_id) == "finished", timeout=30, what="redelivery")

    deliveries = received_for(n8n, job_id)
    assert len(deliveries) == 2
    assert [d.body for d in deliveries] == [b"keep me", b"keep me"]
    assert [d.header("X-Sidecar-Attempt") for d in deliveries] == ["1", "1"]  # a stall is free
    assert rdb.hget(f"rq:job:{job_id}", "sidecar_stalled") == b"1"
    assert counts(rdb) == {"queued": 0, "started": 0, "scheduled": 0, "finished": 1, "failed": 0}
    assert dead_letters(rdb) == []
    assert second.stop() == 0, second.output()
    assert "re-queued 1 stalled job" in second.output()


def test_heartbeats_keep_a_slow_delivery_from_being_taken_twice(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    n8n.script("/webhook/slow", [Reply(200, delay=3.0)])  # three lock lengths
    job_id = enqueue(queue_gateway, "/webhook/slow")

    first = procs.worker(*QUEUE, **queue_env)
    wait_webhooks(n8n, 1, timeout=10)
    second = procs.worker(*QUEUE, **queue_env)  # sweeps every 0.5 s meanwhile
    wait_until(lambda: status(rdb, job_id) == "finished", timeout=10, what="delivery")

    assert len(webhooks(n8n)) == 1
    assert rdb.hget(f"rq:job:{job_id}", "sidecar_stalled") is None
    assert first.stop() == 0 and second.stop() == 0


def test_job_stalled_too_often_is_dead_lettered(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env, held: Reply
) -> None:
    n8n.script("/webhook/poison", [held])
    job_id = enqueue(queue_gateway, "/webhook/poison?x=1")
    payload = fetch(rdb, job_id).args[0]
    env = {**queue_env, "SIDECAR_MAX_STALLED_COUNT": 1}

    for n in (1, 2):  # each worker dies while n8n holds the request
        worker = procs.worker(*QUEUE, **env)
        wait_webhooks(n8n, n, timeout=10)
        worker.kill()
    last = procs.worker("--burst", *QUEUE, **env)
    assert last.wait(15) == 0, last.output()

    assert len(webhooks(n8n)) == 2  # stalled twice with a maximum of 1: not delivered again
    (entry,) = dead_letters(rdb)
    assert entry["queue"] == INBOUND
    assert entry["jobId"] == job_id
    assert entry["data"] == payload
    assert entry["attempts"] == 2
    assert "worker died" in entry["error"]
    assert fetch(rdb, job_id).get_status() == JobStatus.FAILED
    assert counts(rdb) == {"queued": 0, "started": 0, "scheduled": 0, "finished": 0, "failed": 1}
    assert rdb.llen("sidecar:stalled-out") == 0


def test_sigterm_finishes_the_delivery_in_flight_and_takes_no_new_job(
    queue_gateway: Gateway, n8n: FakeN8n, rdb: redis.Redis, procs, queue_env
) -> None:
    answer = threading.Event()
    n8n.script("/webhook/long", [Reply(200, hold=answer)])
    in_flight = enqueue(queue_gateway, "/webhook/long")
    waiting = enqueue(queue_gateway, "/webhook/echo/waiting")
    worker = procs.worker(*QUEUE, "--concurrency", "1", **queue_env)
    wait_webhooks(n8n, 1, timeout=20)

    worker.terminate()
    wait_until(lambda: "stopping: 1 delivery" in worker.output(), timeout=20, what="SIGTERM")
    late = enqueue(queue_gateway, "/webhook/echo/late")
    assert worker.alive  # still waiting for n8n's answer
    answer.set()
    code = worker.wait(30)

    assert code == 0, worker.output()
    assert [r.header("X-Sidecar-Job-Id") for r in webhooks(n8n)] == [in_flight]
    assert status(rdb, in_flight) == "finished"
    assert status(rdb, waiting) == status(rdb, late) == "queued"
    assert counts(rdb) == {"queued": 2, "started": 0, "scheduled": 0, "finished": 1, "failed": 0}
    assert rdb.zcard(f"sidecar:locks:{INBOUND}") == 0
    assert "Traceback" not in worker.output()


SIGTERM_WHILE_IDLE = """
import os, signal, sys, threading, time
import redis
from sidecar.settings import load_settings
from sidecar.worker.runner import Worker

settings = load_settings()
worker = Worker(settings, redis.Redis.from_url(settings.redis_url), [sys.argv[1]], 1)
stop = worker.stop

def slow_stop(*args):
    stop(*args)
    time.sleep(0.05)  # a handler outlasting the 20 ms idle wait it interrupted

worker.stop = slow_stop
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
sys.exit(worker.run())
"""


def test_sigterm_always_stops_an_idle_worker(queue_env) -> None:
    # An idle worker spends its time waiting for finished deliveries; a SIGTERM landing
    # there must end the wait (CPython 3.11's SimpleQueue.get(timeout) can hang forever).
    env = sidecar_env(**queue_env)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SIGTERM_WHILE_IDLE, INBOUND],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 15  # a lost SIGTERM hangs forever; start-up may be slow
    while time.monotonic() < deadline and any(run.poll() is None for run in runs):
        time.sleep(0.05)
    codes = [run.poll() for run in runs]  # None: still running, SIGTERM was lost
    for run in runs:
        run.kill()
        run.wait()
    assert codes == [0, 0, 0]
