"""What a 202 means: Redis' persistence settings read from real servers, reported at
start-up, in /readyz and in `status`; a loud warning when Redis may evict queued jobs."""

from __future__ import annotations

import json
import logging

import pytest
from test_cli import run_cli

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until
from sidecar.queues.durability import read_durability
from sidecar.settings import load_settings


def test_the_shipped_settings_are_read_and_explained(server_factory) -> None:
    server = server_factory("--appendonly", "yes", "--appendfsync", "everysec")
    reading = read_durability(server.client())
    assert (reading.appendonly, reading.appendfsync) == ("yes", "everysec")
    assert (reading.maxmemory_policy, reading.replicas, reading.warnings) == ("noeviction", 0, [])
    assert "within about 1 s" in reading.guarantee


def test_an_evicting_policy_is_a_loud_warning(server_factory) -> None:
    server = server_factory("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru")
    [warning] = read_durability(server.client()).warnings
    assert "allkeys-lru" in warning and "EVICT" in warning


def test_without_config_the_rest_is_read_from_info(server_factory) -> None:
    server = server_factory("--appendonly", "yes", "--rename-command", "CONFIG", '""')
    reading = read_durability(server.client())
    assert (reading.appendonly, reading.appendfsync) == ("yes", "unknown")
    assert reading.maxmemory_policy == "noeviction"
    assert any("CONFIG" in warning for warning in reading.warnings)
    assert reading.guarantee.startswith("unknown")


def test_replicas_are_counted(server_factory) -> None:
    primary = server_factory("--appendonly", "yes")
    server_factory("--replicaof", "127.0.0.1", str(primary.port))
    client = primary.client()
    wait_until(lambda: read_durability(client).replicas == 1, 30, "the replica to connect")


def test_readyz_and_startup_say_what_a_202_means(
    server_factory, n8n: FakeN8n, caplog: pytest.LogCaptureFixture
) -> None:
    server = server_factory("--appendonly", "no", "--maxmemory-policy", "volatile-lru")
    settings = load_settings(N8N_URL=n8n.url, REDIS_URL=server.url)
    with caplog.at_level(logging.INFO, logger="sidecar.durability"):
        app = create_app(settings)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("volatile-lru" in line and "EVICT" in line for line in logged)
    assert any("appendonly is no" in line for line in logged)
    body = app.test_client().get("/readyz").get_json()
    assert body["durability"]["appendonly"] == "no"
    assert body["durability"]["maxmemoryPolicy"] == "volatile-lru"
    assert body["durability"]["guarantee"].startswith("in memory only")


def test_status_reports_the_durability(server_factory, n8n: FakeN8n) -> None:
    server = server_factory("--appendonly", "yes", "--appendfsync", "always")
    env = {"N8N_URL": n8n.url, "REDIS_URL": server.url}
    report = json.loads(run_cli("status", "--json", **env).stdout)
    assert report["durability"]["appendfsync"] == "always"
    assert report["durability"]["guarantee"].startswith("on disk before the 202")
    text = run_cli("status", **env).stdout
    assert "appendfsync always" in text and "a 202 is      on disk" in text
