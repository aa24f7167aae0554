"""Shared pytest fixtures."""

from collections.abc import Iterator

import pytest
from support.fake_n8n import FakeN8n
from support.redis_server import RedisServer

# --- real services ---
# A real redis-server subprocess and a real HTTP fake of n8n, each on a free port of
# 127.0.0.1, shared by the whole session. Tests use `redis_url` (an empty, running redis)
# and `n8n` (a running fake with no scripts and no recorded requests).


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (never the system one on 6379)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session redis, restarted if a test killed it, then FLUSHALLed."""
    if not redis_server.alive:
        redis_server.restart()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def fake_n8n() -> Iterator[FakeN8n]:
    """One fake n8n server for the session."""
    with FakeN8n() as server:
        yield server


@pytest.fixture
def n8n(fake_n8n: FakeN8n) -> FakeN8n:
    """The session fake n8n, started, with scripts and recorded requests cleared."""
    fake_n8n.reset()
    return fake_n8n.start()
