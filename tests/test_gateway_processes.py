"""gunicorn processes: several (SIDECAR_GATEWAY_WORKERS) all serve, /metrics adds them up;
their heartbeat files live in shared memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.multiprocess import MultiProcessCollector

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway, sidecar_env
from sidecar.server import (
    AUTO_MOST,
    SHARED_MEMORY_DIR,
    GatewayServer,
    available_cores,
    gateway_processes,
)
from sidecar.settings import load_settings

WEBHOOK_COUNTER = "sidecar_http_requests_total"


def served_per_process(metrics_dir: Path) -> dict[str, float]:
    """Webhook requests counted by each gunicorn process (prometheus_client keeps one
    counter file per process id in the multiprocess directory)."""
    served = {}
    for path in metrics_dir.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                if sample.name == WEBHOOK_COUNTER and sample.labels["path_class"] == "webhook":
                    served[path.stem] = served.get(path.stem, 0.0) + sample.value
    return served


def post_until_both_served(gateway: Gateway, metrics_dir: Path, ceiling: int = 600) -> int:
    """Webhooks from four threads, keep-alive off (each one a new connection, accepted by
    whichever process wins it), until two processes have served some; how many were sent."""
    sent, lock = 0, threading.Lock()

    def post_one(number: int) -> None:
        nonlocal sent
        response = requests.post(
            f"{gateway.url}/webhook/echo/{number}",
            data=b"x",
            headers={"Connection": "close"},
            timeout=30,
        )
        assert response.status_code == 200
        with lock:
            sent += 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        for batch in range(0, ceiling, 20):
            list(pool.map(post_one, range(batch, batch + 20)))
            if len(served_per_process(metrics_dir)) >= 2:
                break
    return sent


def test_two_processes_both_serve_and_metrics_add_them_up(n8n: FakeN8n, tmp_path: Path) -> None:
    gateway = Gateway(
        N8N_URL=n8n.url,
        SIDECAR_MODE="single",
        SIDECAR_GATEWAY_WORKERS=2,
        PROMETHEUS_MULTIPROC_DIR=tmp_path,
    )
    try:
        sent = post_until_both_served(gateway, tmp_path)
        text = requests.get(f"{gateway.url}/metrics", timeout=10).text
    finally:
        assert gateway.stop() == 0
    per_process = served_per_process(tmp_path)
    assert len(per_process) == 2, f"one process served all {sent} webhooks: {per_process}"
    assert all(count > 0 for count in per_process.values())
    assert sum(per_process.values()) == sent
    counted = re.search(
        r'sidecar_http_requests_total\{method="POST",mode="single",path_class="webhook",'
        r'status="200"\} (\d+)',
        text,
    )
    assert counted and float(counted.group(1)) == sent  # /metrics adds both processes up


def test_gunicorn_keeps_its_heartbeat_files_in_shared_memory() -> None:
    # gunicorn touches a heartbeat file on every event of its loop: on a disk that is a
    # metadata write per request (gunicorn's own advice for containers is /dev/shm).
    server = GatewayServer(load_settings(N8N_URL="http://127.0.0.1:9"))
    expected = SHARED_MEMORY_DIR if os.path.isdir(SHARED_MEMORY_DIR) else None
    assert server.cfg.worker_tmp_dir == expected


def test_auto_runs_a_process_per_core_with_redis_and_one_without(tmp_path: Path) -> None:
    auto = {"N8N_URL": "http://127.0.0.1:9", "SIDECAR_GATEWAY_WORKERS": "auto"}
    cores = min(len(os.sched_getaffinity(0)), AUTO_MOST)
    assert load_settings(N8N_URL="http://127.0.0.1:9").gateway_workers == "auto"  # the default
    assert gateway_processes(load_settings(**auto)) == 1  # no Redis: counters would split
    with_redis = load_settings(**auto, REDIS_URL="redis://127.0.0.1:6379")
    assert gateway_processes(with_redis) == cores
    assert gateway_processes(load_settings(**{**auto, "SIDECAR_GATEWAY_WORKERS": "3"})) == 3


def test_a_container_cpu_quota_bounds_the_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cores = len(os.sched_getaffinity(0))
    cpu_max.write_text("max 100000\n")
    assert available_cores(cpu_max) == cores
    cpu_max.write_text("50000 100000\n")  # half a core: still one process
    assert available_cores(cpu_max) == 1
    cpu_max.write_text(f"{(cores + 4) * 100000} 100000\n")  # more quota than cores
    assert available_cores(cpu_max) == cores
    assert available_cores(tmp_path / "absent") == cores


def test_a_gateway_process_keeps_the_collector_off_its_long_lived_objects() -> None:
    # GatewayServer.load() builds the app in each worker; then the collector is settled
    probe = (
        "import gc; from sidecar.server import GatewayServer;"
        "from sidecar.collector import GC_YOUNG_THRESHOLD;"
        "from sidecar.settings import load_settings;"
        "GatewayServer(load_settings(N8N_URL='http://127.0.0.1:9', SIDECAR_MODE='single')).load();"
        "print(gc.get_freeze_count() > 10000, gc.get_threshold()[0] == GC_YOUNG_THRESHOLD)"
    )
    env = sidecar_env(SIDECAR_LOG_LEVEL="WARNING")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["True", "True"], done.stderr
