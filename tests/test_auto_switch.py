"""Automatic switching end to end: two real gateways, a real worker, real Redis, the n8n-like
server and a real alert receiver, with thresholds and windows shrunk to seconds.

Traffic pushes the webhook rate over its threshold: both gateways switch to queue mode,
alerts arrive, every webhook reaches n8n exactly once; when traffic stops and the queues
are drained, they switch back to single after the cool-down.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from support.alert_receiver import AlertReceiver

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway, Worker

# 6 s rate window: 3000/h is 5 webhooks in 6 s; recovery below 0.7 x 3000 = 2100/h.
SETTINGS = {
    "SIDECAR_MODE": "auto",
    "SIDECAR_RATE_WINDOW_SECONDS": 6,
    "SIDECAR_THRESHOLD_WEBHOOKS_PER_HOUR": 3000,
    "SIDECAR_THRESHOLD_EXEC_SECONDS": 30,
    "SIDECAR_THRESHOLD_MEMORY_PERCENT": 100,
    "SIDECAR_SUSTAIN_SECONDS": 1,
    "SIDECAR_COOLDOWN_SECONDS": 2,
    "SIDECAR_MONITOR_INTERVAL_SECONDS": 0.25,
    "SIDECAR_WORKER_LIMIT_MAX": 100000,
}


@pytest.fixture
def alerts() -> Iterator[AlertReceiver]:
    with AlertReceiver() as receiver:
        yield receiver


@pytest.fixture
def fleet(n8n: FakeN8n, redis_url: str, alerts: AlertReceiver) -> Iterator[list[Gateway]]:
    env = {
        **SETTINGS,
        "N8N_URL": n8n.url,
        "REDIS_URL": redis_url,
        "SIDECAR_ALERT_WEBHOOK_URL": alerts.url,
    }
    gateways = [Gateway(**env), Gateway(**env)]
    worker = Worker("--queue", "webhooks:inbound", **env)
    yield gateways
    worker.stop(timeout=20)
    for gateway in gateways:
        gateway.stop()


def send(gateway: Gateway, number: int) -> requests.Response:
    """One webhook, numbered so each can be traced to n8n."""
    response = requests.post(f"{gateway.url}/webhook/echo/load?n={number}", data=b"{}", timeout=10)
    assert response.status_code in (200, 202), response.text
    return response


def test_load_switches_both_gateways_to_queue_and_back(
    fleet: list[Gateway], n8n: FakeN8n, alerts: AlertReceiver
) -> None:
    modes, number, started = [], 0, time.monotonic()
    while time.monotonic() - started < 15:  # about 8 webhooks a second, alternating gateways
        modes.append(send(fleet[number % 2], number).headers["X-Sidecar-Mode"])
        number += 1
        if modes[-2:] == ["queue", "queue"] and modes.count("queue") >= 10:
            break
        time.sleep(0.12)
    assert "queue" in modes, "the gateways never switched to queue mode"
    switched_after = modes.index("queue")
    assert modes[0] == "single" and switched_after >= 5  # not at once: the rate had to be sustained
    for gateway in fleet:  # both gateways agree
        assert send(gateway, number).status_code == 202
        number += 1

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # traffic stopped: the rate falls, queues drain
        if all(mode_of(g) == "single" for g in fleet):
            break
        time.sleep(0.25)
    assert [mode_of(g) for g in fleet] == ["single", "single"]

    wait_until_delivered(n8n, number)
    seen = Counter(r.query for r in n8n.received if r.path == "/webhook/echo/load")
    assert sorted(seen) == sorted(f"n={n}" for n in range(number))
    assert set(seen.values()) == {1}, "a webhook reached n8n more than once"

    kinds = [a["kind"] for a in alerts.wait_for(3, timeout=10)]
    assert "threshold_crossed" in kinds and "mode_changed" in kinds
    first_switch = next(a for a in alerts.accepted if a["kind"] == "mode_changed")
    assert first_switch["mode"] == "queue"
    assert set(first_switch) == {"kind", "severity", "message", "signals", "mode", "at"}


def mode_of(gateway: Gateway) -> str:
    return requests.get(f"{gateway.url}/healthz", timeout=10).headers["X-Sidecar-Mode"]


def wait_until_delivered(n8n: FakeN8n, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len({r.query for r in n8n.received if r.path == "/webhook/echo/load"}) >= count:
            return
        time.sleep(0.1)
    raise AssertionError("not every webhook was delivered")
