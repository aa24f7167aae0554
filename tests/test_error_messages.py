"""What outside senders read when n8n fails, and what the log keeps (secrets masked)."""

from __future__ import annotations

import requests

from sidecar.harness.ports import free_port
from sidecar.harness.waiting import wait_until

PASSWORD = "Sup3rSecretPw"


def test_502_body_is_generic_and_the_log_has_details_without_the_password(procs) -> None:
    n8n_port = free_port()
    gateway = procs.gateway(
        SIDECAR_MODE="single", N8N_URL=f"http://admin:{PASSWORD}@127.0.0.1:{n8n_port}"
    )

    response = requests.post(f"{gateway.url}/webhook/anything", data=b"x", timeout=10)

    assert response.status_code == 502
    assert response.json() == {"error": "upstream_unreachable", "message": "n8n is unreachable"}
    assert str(n8n_port) not in response.text and "127.0.0.1" not in response.text
    wait_until(lambda: "n8n gave no answer" in gateway.output(), 10, "the log line")
    line = next(x for x in gateway.output().splitlines() if "n8n gave no answer" in x)
    assert f"http://admin:***@127.0.0.1:{n8n_port}" in line
    assert "Connection refused" in line
    assert PASSWORD not in gateway.output()


def test_503_when_n8n_and_redis_are_down_names_no_internal_address(procs) -> None:
    n8n_port, redis_port = free_port(), free_port()
    gateway = procs.gateway(
        SIDECAR_MODE="single",
        N8N_URL=f"http://127.0.0.1:{n8n_port}",
        REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{redis_port}/0",
        SIDECAR_MONITOR_INTERVAL_SECONDS=3600,
    )

    response = requests.post(f"{gateway.url}/webhook/anything", data=b"x", timeout=30)

    assert response.status_code == 503
    assert response.json() == {
        "error": "service_unavailable",
        "message": "n8n and Redis are both unavailable; retry later",
    }
    wait_until(lambda: "both unusable" in gateway.output(), 10, "the log line")
    assert str(n8n_port) in gateway.output()  # the details are in the log
    assert PASSWORD not in gateway.output()
