"""Run the gateway under gunicorn (never Flask's development server): each worker process
an event loop serving the ASGI app (ADR-007, sidecar/gateway_protocol.py); gunicorn stays the
supervisor (graceful timeout, heartbeat, `child_exit` for multi-process metrics)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess
from prometheus_client import values as prometheus_values

from sidecar.collector import settle_garbage_collector
from sidecar.gateway_protocol import GatewayWorker
from sidecar.logs import configure_logging
from sidecar.settings import Settings

SHARED_MEMORY_DIR = "/dev/shm"  # gunicorn's advice for its heartbeat files (in RAM)
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
AUTO_MOST = 8  # `auto` processes at most: ~60-110 MB each


class GatewayServer(BaseApplication):
    """A gunicorn application serving `create_asgi_app(settings)` with GatewayWorker, in
    `processes` worker processes (default: `gateway_processes(settings)`)."""

    def __init__(self, settings: Settings, processes: int | None = None) -> None:
        self.settings = settings
        self.processes = gateway_processes(settings) if processes is None else processes
        super().__init__()

    def load_config(self) -> None:
        """Map settings onto gunicorn's configuration."""
        s, processes = self.settings, self.processes
        options = {
            "bind": f"{s.host}:{s.port}",
            "worker_class": GatewayWorker,
            "workers": processes,
            "timeout": 30,  # heartbeat only: the event loop keeps beating during long requests
            "graceful_timeout": math.ceil(s.shutdown_grace_seconds),
            "keepalive": 5,
            "loglevel": s.log_level.lower(),
            "accesslog": None,
            "proc_name": "n8n-sidecar-gateway",
        }
        if os.path.isdir(SHARED_MEMORY_DIR):  # the heartbeat file is touched on every event
            options["worker_tmp_dir"] = SHARED_MEMORY_DIR
        if processes > 1:
            options["child_exit"] = _forget_worker_metrics
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1
            options["control_socket_disable"] = True  # one shared ~/.gunicorn socket would clash
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the ASGI app in each worker."""
        from sidecar.app import create_asgi_app, start_monitor

        app, flask_app = create_asgi_app(self.settings)
        start_monitor(flask_app)
        settle_garbage_collector()
        return app


def gateway_processes(settings: Settings) -> int:
    """How many gateway processes to run: SIDECAR_GATEWAY_WORKERS, or for `auto` one per
    core this process may use (at most AUTO_MOST) when Redis is configured — the processes
    share the mode, the counters and the limits through it — and one without Redis, where
    each process would count only its own webhooks (docs/benchmarks.md has the figures)."""
    if settings.gateway_workers != "auto":
        return settings.gateway_workers
    if not settings.redis_configured:
        return 1
    return max(1, min(available_cores(), AUTO_MOST))


def available_cores(cgroup: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, bounded by a cgroup v2 CPU quota
    ("200000 100000" in cpu.max is two cores' worth) when a container sets one."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def _forget_worker_metrics(_server: object, worker: object) -> None:
    """gunicorn hook: a worker process ended; its live gauges no longer count."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def run_gateway(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish within the grace period."""
    configure_logging(settings)
    processes = gateway_processes(settings)
    if processes > 1:
        use_multiprocess_metrics()
    GatewayServer(settings, processes).run()


def use_multiprocess_metrics() -> None:
    """Several gunicorn processes: every process writes its metrics to a shared directory
    and /metrics adds them up. prometheus_client chooses how to store values when it is
    first imported (the CLI already did), so that choice is made again here, before any
    metric exists; gunicorn workers fork afterwards and inherit it."""
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sidecar-metrics-"))
    prometheus_values.ValueClass = prometheus_values.get_value_class()
