"""The mode as gateways, /v1/mode and the CLI see it: shared through real Redis."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from test_cli import run_cli

from sidecar.app import create_app
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import load_settings

ADMIN, VIEWER = {"Authorization": "Bearer a"}, {"Authorization": "Bearer v"}


def gateway(n8n: FakeN8n, redis_url: str | None, mode: str = "auto"):
    extra = {"REDIS_URL": redis_url} if redis_url else {}
    settings = load_settings(
        _env_file=None,
        N8N_URL=n8n.url,
        SIDECAR_MODE=mode,
        SIDECAR_ADMIN_TOKENS="admin:a,viewer:v",
        **extra,
    )
    return create_app(settings).test_client()


def wait_for_mode(client, wanted: str, timeout: float = 20.0) -> None:
    """Wait until a webhook through `client` is answered in `wanted` mode (how soon is the
    store's cache time: tests/test_mode_store.py checks it with a frozen clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = uuid.uuid4().bytes  # distinct bodies: identical ones are duplicates
        if client.post("/webhook/echo", data=body).headers["X-Sidecar-Mode"] == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"gateway did not switch to {wanted} within {timeout} s")


def test_auto_starts_single_and_reports_signals(n8n: FakeN8n, redis_url: str) -> None:
    body = gateway(n8n, redis_url).get("/v1/mode", headers=VIEWER).get_json()
    assert (body["mode"], body["pinned"]) == ("single", False)
    assert set(body["signals"]) == {
        "webhooks_per_hour",
        "exec_p95_seconds",
        "memory_percent",
        "eventloop_lag_seconds",
    }
    assert body["signals"]["webhooks_per_hour"]["threshold"] == 500
    execution = body["signals"]["exec_p95_seconds"]  # no SIDECAR_N8N_API_KEY: blind
    assert (execution["source"], execution["blind"]) == ("answer time", True)
    assert body["signals"]["webhooks_per_hour"]["source"] == "gateway count"


def test_pin_through_the_api_reaches_every_gateway(n8n, redis_url) -> None:
    one, two = gateway(n8n, redis_url), gateway(n8n, redis_url)
    assert one.post("/webhook/echo", data=b"x").status_code == 200
    pinned = one.put("/v1/mode", json={"mode": "queue"}, headers=ADMIN).get_json()
    assert (pinned["mode"], pinned["pinned"], pinned["pinnedBy"]) == ("queue", True, "api")
    wait_for_mode(two, "queue")
    assert two.post("/webhook/echo", data=b"unique-1").status_code == 202
    one.put("/v1/mode", json={"mode": "single"}, headers=ADMIN)
    wait_for_mode(two, "single")
    assert one.put("/v1/mode", json={"mode": "auto"}, headers=ADMIN).get_json()["pinned"] is False


def test_configured_queue_mode_is_a_config_pin(n8n, redis_url) -> None:
    client = gateway(n8n, redis_url, mode="queue")
    body = client.get("/v1/mode", headers=VIEWER).get_json()
    assert (body["mode"], body["pinned"], body["pinnedBy"]) == ("queue", True, "config")
    assert client.post("/webhook/echo", data=b"unique-2").status_code == 202
    gateway(n8n, redis_url, mode="auto")  # restarted with auto: the config pin is lifted
    assert client.get("/v1/mode", headers=VIEWER).get_json()["pinned"] is False


@pytest.mark.parametrize(("body", "status"), [({"mode": "fast"}, 400), ({}, 400), (None, 400)])
def test_bad_mode_requests(n8n, redis_url, body, status) -> None:
    client = gateway(n8n, redis_url)
    response = (
        client.put("/v1/mode", json=body, headers=ADMIN)
        if body is not None
        else client.put(
            "/v1/mode", data=b"{oops", headers={**ADMIN, "Content-Type": "application/json"}
        )
    )
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "message"}


def test_pinning_needs_admin_and_queue_needs_redis(n8n, redis_url) -> None:
    client = gateway(n8n, redis_url)
    assert client.put("/v1/mode", json={"mode": "queue"}, headers=VIEWER).status_code == 403
    no_redis = gateway(n8n, None)
    response = no_redis.put("/v1/mode", json={"mode": "queue"}, headers=ADMIN)
    assert response.status_code == 409
    assert no_redis.get("/v1/mode", headers=VIEWER).get_json()["mode"] == "single"


def test_cli_mode_and_status(n8n, redis_url) -> None:
    env = {"N8N_URL": n8n.url, "REDIS_URL": redis_url}
    assert run_cli("mode", "queue", **env).stdout.strip() == "mode queue (pinned)"
    status = json.loads(run_cli("status", "--json", **env).stdout)
    assert (status["mode"], status["pinned"], status["deadLetters"], status["liveWorkers"]) == (
        "queue",
        True,
        0,
        0,
    )
    assert status["queues"]["flrts:webhooks:inbound"]["waiting"] == 0
    text = run_cli("status", **env).stdout
    assert text.startswith("mode      queue (pinned by cli)")
    assert "flrts:tasks:create" in text and "dead letters  0" in text
    assert run_cli("mode", "auto", **env).stdout.strip() == "mode queue (automatic)"


def test_cli_without_redis(n8n) -> None:
    assert run_cli("mode", "queue", N8N_URL=n8n.url).returncode == 2
    text = run_cli("status", N8N_URL=n8n.url).stdout
    assert "no Redis configured" in text
    assert run_cli("mode", "sideways", N8N_URL=n8n.url).returncode == 2


def test_status_names_each_source_and_shows_a_blind_signal_as_unknown(n8n, redis_url) -> None:
    import redis as redis_lib

    from sidecar.mode.controller import Signals
    from sidecar.mode.store import ModeStore

    sample = Signals(webhooks_per_hour=12, exec_p95_seconds=0.03, eventloop_lag_seconds=0.012)
    ModeStore(redis_lib.Redis.from_url(redis_url), DEFAULT_KEYS).save_signals(sample)
    env = {"N8N_URL": n8n.url, "REDIS_URL": redis_url}

    text = run_cli("status", **env).stdout
    execution = next(line for line in text.splitlines() if line.startswith("exec_p95_seconds"))
    assert "answer time" in execution and "unknown (set SIDECAR_N8N_API_KEY)" in execution
    assert "0.03" not in execution
    lag = next(line for line in text.splitlines() if line.startswith("eventloop_lag_seconds"))
    assert "0.012" in lag and "n8n metrics" in lag
    status = json.loads(run_cli("status", "--json", **env).stdout)
    assert status["signals"]["exec_p95_seconds"]["value"] is None
    assert status["signals"]["memory_percent"]["source"] == "host"
