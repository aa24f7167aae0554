"""Redis through real `redis-sentinel` processes: REDIS_SENTINEL_PASSWORD and
REDIS_SENTINEL_USERNAME reach the sentinels, REDIS_PASSWORD the data nodes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sidecar.backend.connection import connect, sentinel_options
from sidecar.errors import ConfigError
from sidecar.harness.processes import Processes
from sidecar.harness.sentinel import SentinelSet
from sidecar.settings import load_settings

pytestmark = pytest.mark.skipif(
    shutil.which("redis-sentinel") is None, reason="redis-sentinel not installed"
)
SENTINEL_SECRET = "sentinel-secret"
DATA_SECRET = "data-secret"


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """Sentinels and data nodes that all require a password (different ones)."""
    tmp = tmp_path_factory.mktemp("sentinel")
    procs = Processes(Path(tmp))
    try:
        yield SentinelSet(procs, tmp, DATA_SECRET, SENTINEL_SECRET).start()
    finally:
        procs.stop_all()


def client_for(**settings: object) -> redis.Redis:
    return connect(load_settings(REDIS_MAX_RETRIES=0, **settings))


def test_the_sentinel_password_reaches_the_sentinels(protected: SentinelSet) -> None:
    client = client_for(**protected.settings())
    try:
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        client.close()


def test_without_the_sentinel_password_no_primary_is_found(protected: SentinelSet) -> None:
    settings = {k: v for k, v in protected.settings().items() if k != "REDIS_SENTINEL_PASSWORD"}
    client = client_for(**settings)
    try:
        with pytest.raises(redis.RedisError):
            client.ping()
    finally:
        client.close()


def test_the_sentinel_username_is_sent_with_its_password() -> None:
    settings = load_settings(REDIS_SENTINEL_USERNAME="watcher", REDIS_SENTINEL_PASSWORD="pw")
    assert sentinel_options(settings) | {"socket_timeout": 0} == {
        "username": "watcher",
        "password": "pw",
        "socket_timeout": 0,
    }


def test_the_sentinel_password_is_never_shown_in_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(REDIS_SENTINEL_PASSWORD="s3cret", REDIS_TLS_CERT_FILE="/c")
    assert "s3cret" not in " ".join(caught.value.problems)
