"""What every scenario needs: options, processes, Redis, the upstream, progress — and how to
start a gateway or workers against them."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

import redis

from sidecar.backend.keys import keys_for
from sidecar.bench.options import Options
from sidecar.bench.progress import Progress
from sidecar.bench.tools import Found, find
from sidecar.harness.n8n_standin import Upstream
from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.sidecar_processes import ROOT, sidecar_argv
from sidecar.harness.waiting import answering
from sidecar.settings import Settings
from sidecar.worker.registry import live_worker_count

PREFIX = "flrts"
OPERATION = "webhooks:inbound"
QUEUE = f"{PREFIX}:{OPERATION}"
NO_LIMIT = "1000000000"
# Variables that would take precedence over REDIS_URL, or change what is measured.
DROPPED_ENV = ("REDIS_HOST", "REDIS_SENTINELS", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB")


@dataclass
class Gateway:
    """A running `n8n-sidecar serve` of the benchmark."""

    proc: subprocess.Popen
    port: int


@dataclass
class Bench:
    """The run's shared parts. `client` talks to the benchmark's own Redis."""

    options: Options
    procs: Processes
    redis_url: str
    upstream: Upstream
    settings: Settings
    client: redis.Redis
    progress: Progress
    tools: dict[str, Found] = field(default_factory=dict)  # looked up once per run

    def tool(self, name: str) -> Found:
        """wrk or bullmq (`tools.find`): found, or installed unless this is a smoke run;
        what happened is said once per run."""
        if name not in self.tools:
            self.tools[name] = find(name, not self.options.smoke, self.progress.say)
            self.progress.say(self.tools[name].note)
        return self.tools[name]

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a sidecar / RQ child process; SIDECAR_* of ours pass through."""
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        env.update(
            N8N_URL=self.upstream.url,
            REDIS_URL=self.redis_url,
            SIDECAR_QUEUE_PREFIX=PREFIX,
            SIDECAR_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        env.update(extra)
        return env

    def reset(self) -> None:
        """Empty the benchmark's Redis and the upstream's score between phases."""
        self.client.flushall()
        self.upstream.reset()

    def start_gateway(self, **settings: str) -> Gateway:
        """`n8n-sidecar serve` on a free port with `settings`, once /healthz answers."""
        port = free_port()
        env = self.env(SIDECAR_PORT=str(port), SIDECAR_HOST="127.0.0.1", **settings)
        proc = self.procs.start("gateway", sidecar_argv("serve"), env)
        self.procs.wait_ready(proc, answering(port), "gateway")
        return Gateway(proc, port)

    def start_workers(self, count: int, *args: str, **settings: str) -> list[subprocess.Popen]:
        """`count` times `n8n-sidecar worker --queue webhooks:inbound ARGS` with `settings`,
        once every one has checked in (it is taking jobs)."""
        argv = sidecar_argv("worker", "--queue", OPERATION, *args)
        env = self.env(SIDECAR_WORKER_LIMIT_MAX=NO_LIMIT, **settings)
        workers = [self.procs.start("worker", argv, env) for _ in range(count)]
        for worker in workers:
            self.procs.wait_ready(
                worker,
                lambda: live_worker_count(self.client, keys_for(self.settings)) >= count,
                "workers",
            )
        return workers
