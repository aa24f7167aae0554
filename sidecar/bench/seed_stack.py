"""The seed's stack as a baseline, on the benchmark's own Redis and upstream: Node with
BullMQ (`node/*.js`, bullmq from the cache dir of `tools.find_bullmq`). Its ingest server
(plain `http.createServer` + `Queue.add`), a filler of its queue, and its delivery workers
(a BullMQ `Worker` POSTing each job to the upstream)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from sidecar.bench.context import Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.load import WEBHOOK_PATH
from sidecar.harness.ports import free_port
from sidecar.harness.waiting import listening

SCRIPTS = Path(__file__).with_name("node")
SEED_QUEUE = "seed-webhooks"
FILL_SECONDS = 300.0


class SeedStack:
    """Node processes of the seed's stack for one scenario of `bench`, with bullmq from
    `modules` (a node_modules dir)."""

    def __init__(self, bench: Bench, modules: Path) -> None:
        self.bench = bench
        self.modules = modules
        self.redis_port = str(urlsplit(bench.redis_url).port)

    def argv(self, script: str, *args: object) -> list[str]:
        """`node SCRIPT ARGS…` for a script of this package."""
        node = shutil.which("node") or "node"
        return [node, str(SCRIPTS / script), *(str(arg) for arg in args)]

    def env(self) -> dict[str, str]:
        """The bench's environment with NODE_PATH at bullmq's node_modules."""
        return self.bench.env(NODE_PATH=str(self.modules))

    def start_ingest(self) -> tuple[subprocess.Popen, int]:
        """The seed's ingest server on a free port, once it listens: (process, port)."""
        port = free_port()
        argv = self.argv("ingest.js", port, self.redis_port, SEED_QUEUE)
        proc = self.bench.procs.start("seed-ingest", argv, self.env())
        self.bench.procs.wait_ready(proc, listening(port), "the seed stack's ingest server")
        return proc, port

    def stored(self) -> int:
        """Jobs waiting in the seed stack's queue."""
        return int(self.bench.client.llen(f"bull:{SEED_QUEUE}:wait"))

    def fill(self, count: int, first_seq: int) -> None:
        """Store `count` webhooks numbered from `first_seq` in the seed stack's queue."""
        argv = self.argv("fill.js", self.redis_port, SEED_QUEUE, count, first_seq, WEBHOOK_PATH)
        proc = self.bench.procs.start("seed-fill", argv, self.env())
        try:
            proc.wait(timeout=FILL_SECONDS)
        except subprocess.TimeoutExpired:
            self.bench.procs.stop(proc)
            raise BenchError(f"the seed stack's fill took over {FILL_SECONDS:g} s") from None
        if proc.returncode != 0 or self.stored() != count:
            raise BenchError(f"seed stack fill: {self.bench.procs.describe_exit(proc)}")

    def failed(self) -> int:
        """Jobs the seed stack's workers failed."""
        return int(self.bench.client.zcard(f"bull:{SEED_QUEUE}:failed"))

    def start_workers(self, count: int, concurrency: int) -> list[subprocess.Popen]:
        """`count` BullMQ worker processes, `concurrency` jobs in flight each, connected but
        taking no job until `go`."""
        procs = self.bench.procs
        argv = self.argv(
            "worker.js", self.redis_port, SEED_QUEUE, self.bench.upstream.port, concurrency
        )
        workers = [procs.start("seed-worker", argv, self.env()) for _ in range(count)]
        for worker in workers:
            procs.wait_ready(worker, partial(self.said_ready, worker), "the seed's workers")
        return workers

    def said_ready(self, worker: subprocess.Popen) -> bool:
        """True once `worker` has printed "ready" (connected to Redis)."""
        return "ready" in self.bench.procs.output(worker)

    @staticmethod
    def go(workers: list[subprocess.Popen]) -> None:
        """Let the workers take jobs."""
        for worker in workers:
            worker.send_signal(signal.SIGUSR2)
