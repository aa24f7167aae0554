"""What the faults share: their sizes (full or smoke), a Redis of their own that can be
killed and restarted from its AOF, and workers that check in against any Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

import redis

from sidecar.backend.keys import keys_for
from sidecar.bench.context import NO_LIMIT, OPERATION, Bench, Gateway
from sidecar.bench.errors import BenchError
from sidecar.harness.processes import Processes
from sidecar.harness.redis_server import SHIPPED_CONFIG, RedisServer
from sidecar.harness.sidecar_processes import sidecar_argv
from sidecar.worker.registry import live_worker_count

# Stalled-job recovery shrunk from 30 s + 30 s so ten kills fit in the run; the recovery
# time scales with SIDECAR_LOCK_SECONDS + SIDECAR_STALLED_INTERVAL_SECONDS.
RECOVERY_SETTINGS = {"SIDECAR_LOCK_SECONDS": "3", "SIDECAR_STALLED_INTERVAL_SECONDS": "1"}
SENDERS = 32  # enough connections that slow answers during a fault do not throttle the load
START_SECONDS = 30.0  # a redis-server loading its AOF
READ_TIMEOUT_S = 5.0  # of the harness' own Redis clients


@dataclass(frozen=True)
class Sizes:
    """How long and how hard: full (about 5 minutes in all) or smoke (seconds)."""

    rate: float = 100.0
    kills: int = 10
    kill_every_s: float = 2.0
    redis_down_s: float = 30.0
    both_down_s: float = 5.0
    n8n_down_s: float = 60.0
    around_s: float = 4.0  # steady load before and after a fault
    drain_s: float = 60.0  # longest wait for deliveries after the load

    @classmethod
    def smoke(cls) -> Sizes:
        """Every fault in a few seconds."""
        return cls(20.0, 2, 1.0, 2.0, 1.0, 2.0, 1.5, 30.0)


def fault_redis(procs: Processes, *args: str) -> RedisServer:
    """A started redis-server of one fault: the shipped configuration (AOF, everysec), then
    `args`. It can be killed (-9), stopped (SIGTERM) and started again on its port and dir."""
    config = (*SHIPPED_CONFIG, *args)
    return RedisServer(config, startup_timeout=START_SECONDS, procs=procs).start()


def start_workers(
    bench: Bench, count: int, client: redis.Redis, **settings: str
) -> list[subprocess.Popen]:
    """`count` workers with `settings`, once `client`'s Redis lists them all."""
    workers = [start_worker(bench, **settings) for _ in range(count)]
    for worker in workers:
        bench.procs.wait_ready(
            worker, lambda: live_worker_count(client, keys_for(bench.settings)) >= count, "workers"
        )
    return workers


def start_worker(bench: Bench, **settings: str) -> subprocess.Popen:
    """One worker, not waited for (a supervisor's restart)."""
    argv = sidecar_argv("worker", "--queue", OPERATION)
    env = bench.env(SIDECAR_WORKER_LIMIT_MAX=NO_LIMIT, **settings)
    return bench.procs.start(
        "worker", [*argv, "--concurrency", str(bench.options.concurrency)], env
    )


def queue_gateway(bench: Bench, **settings: str) -> Gateway:
    """A queue-mode gateway with no per-user limit."""
    return bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT, **settings)


def kill9(proc: subprocess.Popen) -> None:
    """kill -9 and reap."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def sleep_until(start: float, offset: float) -> None:
    """Sleep until unix time `start + offset`."""
    wait = start + offset - time.time()
    if wait > 0:
        time.sleep(wait)


def require_alive(procs: Processes, proc: subprocess.Popen, what: str) -> None:
    """BenchError naming the exit when `proc` has died unexpectedly."""
    if proc.poll() is not None:
        raise BenchError(f"{what}: {procs.describe_exit(proc)}")
