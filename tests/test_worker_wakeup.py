"""Wake-up calls: a token left with a pushed job ends an idle worker's wait; tokens never
pile up; a disarmed (busy) worker is not called."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from sidecar.queues.jobs import enqueue_payload
from sidecar.queues.wake import leave_token, wake_key
from sidecar.settings import load_settings
from sidecar.worker.wakeup import Waker

QUEUE = "flrts:webhooks:inbound"
OTHER = "flrts:tasks:create"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as conn:
        yield conn


@pytest.fixture
def woken() -> threading.Event:
    return threading.Event()


@pytest.fixture
def waker(client: redis.Redis, woken: threading.Event) -> Iterator[Waker]:
    waker = Waker(client, [QUEUE, OTHER], woken.set).start()
    yield waker
    waker.stop()
    waker.thread.join(timeout=5)


def push(client: redis.Redis, queue: str, times: int = 1) -> None:
    with client.pipeline() as pipe:
        for _ in range(times):
            leave_token(pipe, queue)
        pipe.execute()


def test_tokens_never_pile_up(client: redis.Redis) -> None:
    push(client, QUEUE, times=50)
    assert client.llen(wake_key(QUEUE)) == 1


@pytest.mark.parametrize("queue", [QUEUE, OTHER])
def test_an_armed_waker_is_called_when_a_job_is_pushed_on_any_of_its_queues(
    client: redis.Redis, waker: Waker, woken: threading.Event, queue: str
) -> None:
    waker.arm()
    push(client, queue)
    assert woken.wait(timeout=5)
    assert client.llen(wake_key(queue)) == 0  # the token was taken


def test_a_disarmed_waker_leaves_the_token_for_later(
    client: redis.Redis, waker: Waker, woken: threading.Event
) -> None:
    push(client, QUEUE)
    assert not woken.wait(timeout=1.2)  # longer than one armed check and one BLPOP
    assert client.llen(wake_key(QUEUE)) == 1
    waker.arm()
    assert woken.wait(timeout=5)


def test_a_token_for_another_queue_does_not_wake_it(
    client: redis.Redis, waker: Waker, woken: threading.Event
) -> None:
    waker.arm()
    push(client, "flrts:reminders:send")
    assert not woken.wait(timeout=1.2)


def test_stop_ends_the_thread_within_one_blpop(waker: Waker) -> None:
    waker.arm()
    waker.stop()
    waker.thread.join(timeout=3)
    assert not waker.thread.is_alive()


def test_jobs_stored_by_persist_typed_jobs_and_replays_leave_a_token_too(
    client: redis.Redis, redis_url: str
) -> None:
    settings = load_settings(REDIS_URL=redis_url, N8N_URL="http://127.0.0.1:9")
    enqueue_payload(client, settings, OTHER, {"method": "POST", "path": "/webhook/x"})  # persist()
    assert client.llen(wake_key(OTHER)) == 1
