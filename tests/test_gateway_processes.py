"""gunicorn processes: several (SIDECAR_GATEWAY_WORKERS) all serve, /metrics adds them up;
their heartbeat files live in shared memory."""

from __future__ import annotations

import os
import re

import requests
from support.fake_n8n import FakeN8n
from support.processes import Gateway

from sidecar.server import SHARED_MEMORY_DIR, GatewayServer
from sidecar.settings import load_settings


def test_two_processes_share_their_metrics(n8n: FakeN8n) -> None:
    gateway = Gateway(N8N_URL=n8n.url, SIDECAR_MODE="single", SIDECAR_GATEWAY_WORKERS=2)
    try:
        for number in range(30):  # keep-alive off: connections spread over both processes
            response = requests.post(
                f"{gateway.url}/webhook/echo/{number}",
                data=b"x",
                headers={"Connection": "close"},
                timeout=10,
            )
            assert response.status_code == 200
        text = requests.get(f"{gateway.url}/metrics", timeout=10).text
    finally:
        assert gateway.stop() == 0
    counted = re.search(
        r'sidecar_http_requests_total\{method="POST",mode="single",path_class="webhook",'
        r'status="200"\} (\d+)',
        text,
    )
    assert counted and float(counted.group(1)) == 30


def test_gunicorn_keeps_its_heartbeat_files_in_shared_memory() -> None:
    # gunicorn touches a heartbeat file on every event of its loop: on a disk that is a
    # metadata write per request (gunicorn's own advice for containers is /dev/shm).
    server = GatewayServer(load_settings(N8N_URL="http://127.0.0.1:9"))
    expected = SHARED_MEMORY_DIR if os.path.isdir(SHARED_MEMORY_DIR) else None
    assert server.cfg.worker_tmp_dir == expected
