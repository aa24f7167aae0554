"""The event loop's intake (sidecar/queues/intake_async.py) gives the sync intake's answers:
the same job hash, the same duplicate, rate-limit, backlog and Redis-down refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from sidecar.backend.async_connection import async_twin
from sidecar.capture import CapturedRequest
from sidecar.errors import BackendUnavailable, BacklogFull, Duplicate, RateLimited
from sidecar.queues.intake import Intake
from sidecar.queues.intake_async import AsyncIntake
from sidecar.routes import load_routes
from sidecar.settings import load_settings

ROUTES = """
- match: /webhook/limited/*
  rate_limit: 1/60
"""


def webhook(path: str, body: bytes, user: str = "u1") -> CapturedRequest:
    return CapturedRequest(
        method="POST",
        path=path,
        query="",
        headers=[("X-User-Id", user), ("Content-Type", "application/json")],
        body=body,
        route_path=path,
    )


def intakes(redis_url: str, tmp_path: Path, **extra: object) -> tuple[Intake, AsyncIntake]:
    (tmp_path / "routes.yml").write_text(ROUTES)
    settings = load_settings(
        _env_file=None,
        REDIS_URL=redis_url,
        SIDECAR_ROUTES_FILE=str(tmp_path / "routes.yml"),
        **{k: str(v) for k, v in extra.items()},
    )
    client = redis.Redis.from_url(redis_url)
    sync = Intake(client, settings, load_routes(settings))
    twin = async_twin(client)
    assert twin is not None  # a plain URL: the loop talks to Redis itself
    return sync, AsyncIntake(sync, twin)


def enqueue(loop_intake: AsyncIntake, captured: CapturedRequest):
    async def run():
        try:
            return await loop_intake.enqueue(captured, route_of(loop_intake, captured))
        finally:
            await loop_intake.close()

    return asyncio.run(run())


def route_of(loop_intake: AsyncIntake, captured: CapturedRequest):
    return loop_intake.sync.routes.match(captured.resolved_path())


def test_the_job_is_stored_as_the_sync_intake_stores_it(
    redis_url: str, rdb: redis.Redis, tmp_path: Path
) -> None:
    sync, loop_intake = intakes(redis_url, tmp_path)
    by_loop = enqueue(loop_intake, webhook("/webhook/a", b'{"n": 1}'))
    by_sync = sync.enqueue(webhook("/webhook/a", b'{"n": 2}'))
    assert by_loop.queue == by_sync.queue
    loop_hash = rdb.hgetall(f"rq:job:{by_loop.job_id}")
    sync_hash = rdb.hgetall(f"rq:job:{by_sync.job_id}")
    assert sorted(loop_hash) == sorted(sync_hash)
    assert loop_hash[b"status"] == sync_hash[b"status"] == b"queued"
    waiting = rdb.lrange(f"rq:queue:{by_loop.queue}", 0, -1)
    assert waiting == [by_loop.job_id.encode(), by_sync.job_id.encode()]


def test_a_duplicate_names_the_first_job(redis_url: str, tmp_path: Path) -> None:
    sync, loop_intake = intakes(redis_url, tmp_path)
    first = sync.enqueue(webhook("/webhook/a", b'{"same": 1}'))
    with pytest.raises(Duplicate) as refused:
        enqueue(loop_intake, webhook("/webhook/a", b'{"same": 1}'))
    assert refused.value.job_id == first.job_id


def test_the_users_window_is_counted_across_both(redis_url: str, tmp_path: Path) -> None:
    sync, loop_intake = intakes(redis_url, tmp_path)
    sync.enqueue(webhook("/webhook/limited/x", b"1"))
    with pytest.raises(RateLimited):
        enqueue(loop_intake, webhook("/webhook/limited/x", b"2"))


def test_a_full_queue_is_refused_with_retry_after(redis_url: str, tmp_path: Path) -> None:
    sync, loop_intake = intakes(redis_url, tmp_path, SIDECAR_MAX_WAITING=1)
    sync.enqueue(webhook("/webhook/a", b"1"))
    with pytest.raises(BacklogFull) as refused:
        enqueue(loop_intake, webhook("/webhook/a", b"2"))
    assert refused.value.status == 503 and "Retry-After" in refused.value.headers


def test_redis_down_is_backend_unavailable(dead_redis: redis.Redis, tmp_path: Path) -> None:
    port = dead_redis.connection_pool.connection_kwargs["port"]
    _, loop_intake = intakes(f"redis://127.0.0.1:{port}/0", tmp_path, REDIS_MAX_RETRIES=0)
    with pytest.raises(BackendUnavailable):
        enqueue(loop_intake, webhook("/webhook/a", b"1"))
