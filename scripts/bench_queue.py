#!/usr/bin/env python3
"""Queue mode: webhooks accepted per second, jobs delivered per second, memory per job.

Starts on 127.0.0.1 its own redis-server (free port, temp dir, no persistence) and a fast
stand-in for n8n (scripts/bench_upstream.js under node; a Python server when node is
missing), then measures in one run:

1. ingest  — keep-alive senders POST a small JSON webhook to a real gateway
   (`python -m sidecar serve`, SIDECAR_MODE=queue) and get 202s: rate, p50, p99. Each
   webhook has a fresh update_id, so the dedup guard lets it through, and the per-user
   limit is set out of reach (the guards still run). Plus the in-process rate of
   `enqueue_payload` (no HTTP, no guards) as a reference;
2. deliver — N jobs pre-filled on flrts:webhooks:inbound, delivered by W
   `python -m sidecar worker --burst` processes, then (same jobs, same upstream) by W plain
   `rq worker --burst` SimpleWorker processes running `sidecar.worker.delivery.deliver`;
   deliveries are counted at the upstream, the rate is first to last delivery ("steady")
   and also spawn to exit ("wall");
3. memory  — Redis bytes per queued job (INFO used_memory delta, and MEMORY USAGE of a
   sample), less the payload; resident memory of the gateway and of one worker of each kind.

Children's output goes to log files in a temp dir, removed after a good run and kept
after an error (the message names the log). Other SIDECAR_* variables in the environment
pass through to the sidecar processes (e.g. SIDECAR_GATEWAY_WORKERS, SIDECAR_ENCRYPTION_KEY),
so variants can be measured too.

    .venv/bin/python scripts/bench_queue.py --jobs 5000 --workers 2 --concurrency 10
    .venv/bin/python scripts/bench_queue.py --smoke          # every scenario, tiny, seconds
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

try:
    import psutil
    import redis

    from sidecar.capture import CapturedRequest
    from sidecar.errors import ConfigError
    from sidecar.queues.connection import connect
    from sidecar.queues.jobs import JOB_PREFIX, build_job, enqueue_payload, persist, queue_key
    from sidecar.settings import Settings, load_settings
except ImportError as missing:  # not the project's venv, or the package is broken
    sys.exit(
        f"bench_queue: cannot import {missing.name or missing}: "
        "run it with the project's venv (.venv/bin/python scripts/bench_queue.py)"
    )

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "flrts"
OPERATION = "webhooks:inbound"
QUEUE = f"{PREFIX}:{OPERATION}"
WEBHOOK_PATH = "/webhook/bench"
UPDATE_IDS = itertools.count(1)  # every webhook differs, so the dedup guard lets it through
SEND_HEADERS = {"Content-Type": "application/json", "X-User-Id": "42"}
PREFILL_BATCH = 500
MEMORY_SAMPLE = 200
STOP_GRACE_SECONDS = 10.0
MB = 1024 * 1024
NO_LIMIT = "1000000000"
BUSY_LOAD = 0.5  # 1-minute load average above which a warning is printed
# Variables that would take precedence over REDIS_URL, or change what is measured.
DROPPED_ENV = ("REDIS_HOST", "REDIS_SENTINELS", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB")


class BenchError(Exception):
    """A one-line reason the benchmark cannot go on."""


def progress(message: str) -> None:
    """One progress line on stderr (stdout carries the table)."""
    print(f"bench_queue: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- processes


@dataclass
class Processes:
    """Every child process the benchmark starts, with its log file; `stop_all` ends them."""

    logdir: Path
    started: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """Start `argv` with its output going to a log file in the temp dir."""
        log = self.logdir / f"{name}-{len(self.started)}.log"
        with open(log, "wb") as handle:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.logdir,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.started.append((name, proc, log))
        return proc

    def describe_exit(self, proc: subprocess.Popen) -> str:
        """'NAME exited with code N: last log line' for an error message."""
        name, log = next((n, lg) for n, p, lg in self.started if p is proc)
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        return f"{name} exited with code {proc.poll()}: {last} (log: {log})"

    def stop(self, proc: subprocess.Popen) -> None:
        """Terminate `proc`; kill it if it has not exited within the grace period."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_SECONDS)

    def stop_all(self) -> None:
        """Terminate every process still running (all at once), then kill the stragglers."""
        alive = [proc for _, proc, _ in self.started if proc.poll() is None]
        for proc in alive:
            proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_SECONDS)


def wait_until(
    ready: Callable[[], bool],
    what: str,
    procs: Processes,
    proc: subprocess.Popen,
    timeout: float = 30.0,
) -> None:
    """Poll `ready` until true; BenchError when `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(procs.describe_exit(proc))
        if ready():
            return
        time.sleep(0.05)
    raise BenchError(f"{what} not ready after {timeout:.0f} s")


def listening(port: int) -> Callable[[], bool]:
    """A check that something accepts connections on 127.0.0.1:port."""

    def check() -> bool:
        """True once a TCP connection succeeds."""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    return check


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` and its descendants."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in family:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def reaped_children_cpu_seconds() -> float:
    """User + system CPU seconds of every child process this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (0 when it is gone)."""
    try:
        return psutil.Process(pid).memory_info().rss / MB
    except psutil.Error:
        return 0.0


# --------------------------------------------------------------------------- servers


def start_redis(procs: Processes, tmp: Path) -> str:
    """Our own redis-server on a free port, no persistence; its URL once PING answers."""
    binary = shutil.which("redis-server")
    if not binary:
        raise BenchError("redis-server not found on PATH (apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    argv += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    proc = procs.start("redis", argv)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)

    def pong() -> bool:
        """True once redis-server answers PING."""
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until(pong, "redis-server", procs, proc)
    client.close()
    return url


class PythonUpstream(BaseHTTPRequestHandler):
    """Fallback stand-in for n8n: 200 to every request, keep-alive, deliveries counted."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock: ClassVar[threading.Lock] = threading.Lock()
    stats: ClassVar[dict[str, float]] = {"count": 0, "firstMs": 0.0, "lastMs": 0.0}

    def _answer(self) -> None:
        """Any method: count a delivery (or serve /__bench/stats, /__bench/reset); 200."""
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            if self.path.startswith("/__bench/reset"):
                self.stats.update(count=0, firstMs=0.0, lastMs=0.0)
            elif not self.path.startswith("/__bench/"):
                now = time.perf_counter() * 1000
                self.stats["firstMs"] = self.stats["firstMs"] or now
                self.stats.update(count=self.stats["count"] + 1, lastMs=now)
            body = json.dumps(self.stats).encode() if "/__bench/" in self.path else None
        answer = body or b'{"message":"Workflow was started"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        """Quiet."""


@dataclass
class Upstream:
    """The running stand-in for n8n: its port and what it runs on."""

    port: int
    kind: str

    def _call(self, method: str, path: str) -> dict:
        """One control request to the upstream; its JSON answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict:
        """{"count", "firstMs", "lastMs"} of deliveries since the last reset."""
        return self._call("GET", "/__bench/stats")

    def reset(self) -> None:
        """Zero the delivery counters."""
        self._call("POST", "/__bench/reset")


def start_upstream(procs: Processes) -> Upstream:
    """The node stand-in for n8n, or the Python one when node is not installed."""
    port = free_port()
    node = shutil.which("node")
    if node:
        argv, kind = [node, str(HERE / "bench_upstream.js"), str(port)], "node"
    else:
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve-upstream", str(port)]
        kind = "python (node not found on PATH: the upstream may be the bottleneck)"
        progress("node not found: using the Python upstream, which may limit delivery rates")
    proc = procs.start("upstream", argv)
    wait_until(listening(port), "upstream", procs, proc)
    return Upstream(port, kind)


# --------------------------------------------------------------------------- context


@dataclass
class Bench:
    """What every phase needs: options, processes, Redis, upstream, settings."""

    args: argparse.Namespace
    procs: Processes
    redis_url: str
    upstream: Upstream
    settings: Settings
    client: redis.Redis

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a sidecar / RQ child process."""
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        env.update(
            N8N_URL=f"http://127.0.0.1:{self.upstream.port}",
            REDIS_URL=self.redis_url,
            SIDECAR_QUEUE_PREFIX=PREFIX,
            SIDECAR_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        env.update(extra)
        return env

    def reset_redis(self) -> None:
        """Empty the benchmark's own Redis between phases."""
        self.client.flushall()


def make_settings(redis_url: str, upstream_port: int) -> Settings:
    """Settings for the in-process enqueues, as the child processes see them."""
    try:
        return load_settings(
            REDIS_URL=redis_url,
            N8N_URL=f"http://127.0.0.1:{upstream_port}",
            SIDECAR_QUEUE_PREFIX=PREFIX,
            SIDECAR_MODE="queue",
        )
    except ConfigError as exc:
        raise BenchError(f"bad sidecar configuration: {'; '.join(exc.problems)}") from None


def webhook_body() -> bytes:
    """A small Telegram-like update with a fresh update_id."""
    update = {"update_id": next(UPDATE_IDS), "message": {"text": "hello", "from": {"id": 42}}}
    return json.dumps(update).encode()


def sample_payload() -> dict:
    """A captured webhook as the gateway stores it (headers it would forward included)."""
    headers = [
        ("Content-Type", "application/json"),
        ("X-User-Id", "42"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "127.0.0.1"),
    ]
    return CapturedRequest("POST", WEBHOOK_PATH, "", headers, webhook_body()).to_payload()


def prefill(bench: Bench, count: int, payload: dict) -> None:
    """Store `count` delivery jobs on QUEUE as enqueue_payload does, pipelined in batches."""
    client, settings = bench.client, bench.settings
    for start in range(0, count, PREFILL_BATCH):
        with client.pipeline(transaction=False) as pipe:
            for _ in range(min(PREFILL_BATCH, count - start)):
                job = build_job(client, settings, QUEUE, payload, description="POST /webhook/bench")
                persist(pipe, QUEUE, job)
            pipe.execute()
    if client.llen(queue_key(QUEUE)) != count:
        raise BenchError(f"pre-fill stored {client.llen(queue_key(QUEUE))} jobs, not {count}")


# --------------------------------------------------------------------------- 1. ingest


def post_webhooks(port: int, count: int, deadline: float, stop: threading.Event) -> list[float]:
    """POST `count` webhooks on one keep-alive connection (until `stop`); latencies in s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    try:
        for _ in range(count):
            if stop.is_set():
                break
            if time.monotonic() > deadline:
                raise BenchError("ingest did not finish within --timeout")
            started = time.perf_counter()
            conn.request("POST", WEBHOOK_PATH, body=webhook_body(), headers=SEND_HEADERS)
            response = conn.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 202:
                raise BenchError(f"gateway answered {response.status}, not 202: {body[:200]!r}")
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"posting to the gateway failed: {exc!r}") from None
    finally:
        conn.close()
    return latencies


def send_all(port: int, total: int, senders: int, timeout: float) -> tuple[list[float], float]:
    """`total` webhooks over `senders` connections in parallel; (latencies, elapsed s).

    The first failure (or Ctrl-C / SIGTERM) stops every sender."""
    shares = [total // senders + (1 if i < total % senders else 0) for i in range(senders)]
    deadline, stop = time.monotonic() + timeout, threading.Event()
    with ThreadPoolExecutor(senders) as pool:
        started = time.perf_counter()
        futures = [pool.submit(post_webhooks, port, n, deadline, stop) for n in shares]
        try:
            parts = [future.result() for future in futures]
        except BaseException:
            stop.set()
            raise
        elapsed = time.perf_counter() - started
    return [x for part in parts for x in part], elapsed


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
    }


def gateway_rss(pid: int) -> dict[str, float]:
    """RSS of the gunicorn master and of its (largest) worker, MiB."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        children = []
    worker = max((rss_mb(child.pid) for child in children), default=0.0)
    return {"master_rss_mb": rss_mb(pid), "worker_rss_mb": worker}


def run_ingest(bench: Bench) -> dict:
    """Webhooks through a real queue-mode gateway: rate, p50, p99, gateway RSS."""
    args, port = bench.args, free_port()
    env = bench.env(
        SIDECAR_MODE="queue",
        SIDECAR_PORT=str(port),
        SIDECAR_HOST="127.0.0.1",
        SIDECAR_USER_RATE_LIMIT=NO_LIMIT,  # the guard runs, but one sender-user is never held
    )
    gateway = bench.procs.start("gateway", [sys.executable, "-m", "sidecar", "serve"], env)
    wait_until(listening(port), "gateway", bench.procs, gateway)
    progress(f"ingest: gateway up on :{port}, warming up")
    warmup = max(args.senders, args.jobs // 10)
    send_all(port, warmup, args.senders, args.timeout)
    progress(f"ingest: {args.jobs} webhooks from {args.senders} keep-alive senders")
    cpu_before, own_before = tree_cpu_seconds(gateway.pid), time.process_time()
    latencies, elapsed = send_all(port, args.jobs, args.senders, args.timeout)
    gateway_cpu = tree_cpu_seconds(gateway.pid) - cpu_before
    result = {
        "webhooks": len(latencies),
        "rate_per_s": len(latencies) / elapsed,
        **percentiles(latencies),
        "gateway_cpu_us_per_webhook": gateway_cpu / args.jobs * 1e6,
        "sender_cpu_us_per_webhook": (time.process_time() - own_before) / args.jobs * 1e6,
        **gateway_rss(gateway.pid),
    }
    stored = bench.client.llen(queue_key(QUEUE))
    bench.procs.stop(gateway)
    if stored != warmup + args.jobs:
        raise BenchError(f"gateway answered 202 {warmup + args.jobs} times but stored {stored}")
    bench.reset_redis()
    return result


def run_raw_enqueue(bench: Bench) -> dict:
    """`enqueue_payload` called in a loop in this process: the storing step alone."""
    count, payload = bench.args.jobs, sample_payload()
    progress(f"ingest: {count} in-process enqueue_payload calls")
    for _ in range(min(100, count)):  # warm-up: connection, imports, caches
        enqueue_payload(bench.client, bench.settings, QUEUE, payload)
    started = time.perf_counter()
    for _ in range(count):
        enqueue_payload(bench.client, bench.settings, QUEUE, payload)
    elapsed = time.perf_counter() - started
    bench.reset_redis()
    return {"jobs": count, "rate_per_s": count / elapsed, "us_per_call": elapsed / count * 1e6}


# --------------------------------------------------------------------------- 2. deliver


def sidecar_worker_argv(concurrency: int) -> list[str]:
    """One `n8n-sidecar worker --burst` process on the inbound queue."""
    command = f"-m sidecar worker --burst --queue {OPERATION} --concurrency {concurrency}"
    return [sys.executable, *command.split()]


def rq_worker_argv(redis_url: str) -> list[str]:
    """One vanilla `rq worker --burst` SimpleWorker process on the inbound queue."""
    rq_cli = Path(sys.executable).with_name("rq")
    if not rq_cli.exists():
        found = shutil.which("rq")
        if not found:
            raise BenchError("the `rq` command is not installed next to this Python or on PATH")
        rq_cli = Path(found)
    options = (
        "worker --burst --worker-class rq.worker.SimpleWorker --logging_level WARNING "
        "--serializer rq.serializers.JSONSerializer"
    )
    return [str(rq_cli), *options.split(), "--url", redis_url, QUEUE]


def wait_for_exit(bench: Bench, workers: list[subprocess.Popen]) -> float:
    """Wait for every worker to exit (non-zero exit is an error); peak RSS of the first."""
    deadline, peak = time.monotonic() + bench.args.timeout, 0.0
    while any(proc.poll() is None for proc in workers):
        if time.monotonic() > deadline:
            done = bench.upstream.stats()["count"]
            raise BenchError(
                f"workers still running after --timeout {bench.args.timeout:g} s "
                f"({done} deliveries so far)"
            )
        peak = max(peak, rss_mb(workers[0].pid))
        time.sleep(0.05)
    for proc in workers:
        if proc.returncode != 0:
            raise BenchError(bench.procs.describe_exit(proc))
    return peak


def check_delivered(bench: Bench, label: str, count: int, stats: dict) -> None:
    """Every job delivered exactly once, nothing left waiting or failed."""
    waiting = bench.client.llen(queue_key(QUEUE))
    failed = bench.client.zcard(f"rq:failed:{QUEUE}")
    if stats["count"] != count or waiting or failed:
        raise BenchError(
            f"{label}: upstream saw {stats['count']} of {count} deliveries, "
            f"{waiting} still waiting, {failed} failed"
        )


def startup_cpu_seconds(bench: Bench, name: str, argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds one burst worker spends starting and stopping, on an empty queue."""
    bench.reset_redis()
    before = reaped_children_cpu_seconds()
    wait_for_exit(bench, [bench.procs.start(name, argv, env)])
    return reaped_children_cpu_seconds() - before


def run_workers(bench: Bench, label: str, argv: list[str], env: dict[str, str]) -> dict:
    """Pre-fill the queue, run W burst workers until they exit; rates, CPU and RSS."""
    count, workers = bench.args.jobs, bench.args.workers
    startup = startup_cpu_seconds(bench, label.split()[0], argv, env)
    prefill(bench, count, sample_payload())
    bench.upstream.reset()
    progress(f"deliver: {count} jobs, {workers} x {label}")
    cpu_before, started = reaped_children_cpu_seconds(), time.perf_counter()
    procs = [bench.procs.start(label.split()[0], argv, env) for _ in range(workers)]
    peak = wait_for_exit(bench, procs)
    wall = time.perf_counter() - started
    cpu = reaped_children_cpu_seconds() - cpu_before - workers * startup
    stats = bench.upstream.stats()
    check_delivered(bench, label, count, stats)
    span = (stats["lastMs"] - stats["firstMs"]) / 1000
    steady = (count - 1) / span if span > 0 else float("nan")
    bench.reset_redis()
    return {
        "label": label,
        "jobs": count,
        "workers": workers,
        "rate_per_s": steady,
        "wall_rate_per_s": count / wall,
        "wall_s": wall,
        "worker_cpu_us_per_job": cpu / count * 1e6,
        "worker_startup_cpu_s": startup,
        "worker_rss_mb": peak,
    }


def run_deliver(bench: Bench) -> dict:
    """The n8n-sidecar worker against vanilla RQ SimpleWorker, same jobs, same upstream."""
    args = bench.args
    sidecar_env = bench.env(SIDECAR_WORKER_LIMIT_MAX=NO_LIMIT)
    ours = run_workers(
        bench,
        f"n8n-sidecar worker (concurrency {args.concurrency})",
        sidecar_worker_argv(args.concurrency),
        sidecar_env,
    )
    rq = run_workers(bench, "rq SimpleWorker", rq_worker_argv(bench.redis_url), bench.env())
    return {"sidecar": ours, "rq": rq, "ratio": ours["rate_per_s"] / rq["rate_per_s"]}


# --------------------------------------------------------------------------- 3. memory


def used_memory(client: redis.Redis) -> int:
    """Redis' INFO memory used_memory, bytes."""
    return int(client.info("memory")["used_memory"])


def memory_usage_per_job(client: redis.Redis, count: int) -> tuple[float, float]:
    """(MEMORY USAGE of a sample of job hashes + the list's share, stored `data` field bytes)."""
    ids = [raw.decode() for raw in client.lrange(queue_key(QUEUE), 0, MEMORY_SAMPLE - 1)]
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.memory_usage(JOB_PREFIX + job_id, samples=0)
            pipe.hstrlen(JOB_PREFIX + job_id, "data")
        replies = pipe.execute()
    per_hash = statistics.mean(replies[0::2])
    list_share = (client.memory_usage(queue_key(QUEUE), samples=0) or 0) / count
    return per_hash + list_share, statistics.mean(replies[1::2])


def job_hash_encoding(client: redis.Redis) -> str:
    """Redis' encoding of one queued job hash ('listpack' is compact, 'hashtable' is not)."""
    job_id = client.lindex(queue_key(QUEUE), 0)
    encoding = client.object("encoding", JOB_PREFIX + job_id.decode()) if job_id else None
    return encoding.decode() if isinstance(encoding, bytes) else str(encoding)


def run_memory(bench: Bench) -> dict:
    """Redis bytes per queued job with a tiny payload, less the payload, two ways."""
    count = bench.args.jobs
    progress(f"memory: {count} jobs with a tiny payload")
    bench.reset_redis()
    tiny = CapturedRequest("POST", "/webhook/m", "", [], b"", received_at=0.0).to_payload()
    payload_bytes = len(json.dumps(tiny, separators=(",", ":")))
    before = used_memory(bench.client)
    prefill(bench, count, tiny)
    per_job_info = (used_memory(bench.client) - before) / count
    per_job_usage, data_bytes = memory_usage_per_job(bench.client, count)
    encoding = job_hash_encoding(bench.client)
    bench.reset_redis()
    return {
        "jobs": count,
        "payload_json_bytes": payload_bytes,
        "stored_data_field_bytes": data_bytes,
        "job_hash_encoding": encoding,
        "info_bytes_per_job": per_job_info,
        "info_overhead_bytes_per_job": per_job_info - payload_bytes,
        "memory_usage_bytes_per_job": per_job_usage,
        "memory_usage_overhead_bytes_per_job": per_job_usage - payload_bytes,
    }


# --------------------------------------------------------------------------- report


def print_ingest(ingest: dict, raw: dict) -> None:
    """The ingest rows."""
    print(f"\n{'ingest':40}{'/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8}")
    print(
        f"{'  gateway, HTTP 202':40}{ingest['rate_per_s']:8.0f}{ingest['p50_ms']:8.2f}"
        f"{ingest['p99_ms']:8.2f}{ingest['gateway_cpu_us_per_webhook']:8.0f}"
    )
    print(
        f"{'  enqueue_payload in-process, no HTTP':40}{raw['rate_per_s']:8.0f}"
        f"{'':16}{raw['us_per_call']:8.0f}  (wall per call)"
    )
    print(
        f"  (CPU us = gateway CPU per webhook; the senders used "
        f"{ingest['sender_cpu_us_per_webhook']:.0f} us each on the same cores)"
    )


def print_deliver(deliver: dict) -> None:
    """The deliver rows."""
    print(f"\n{'deliver':40}{'jobs/s':>8}{'wall/s':>8}{'RSS MB':>8}{'CPU us':>8}")
    for side in ("sidecar", "rq"):
        row = deliver[side]
        print(
            f"{'  ' + row['label'] + ' x' + str(row['workers']):40}{row['rate_per_s']:8.0f}"
            f"{row['wall_rate_per_s']:8.0f}{row['worker_rss_mb']:8.1f}"
            f"{row['worker_cpu_us_per_job']:8.0f}"
        )
    print(f"{'  ratio n8n-sidecar / rq':40}{deliver['ratio']:7.2f}x")
    print("  (jobs/s: first to last delivery at the upstream; wall/s: spawn to exit;")
    print("   RSS: peak of one worker; CPU us: worker CPU per job, start-up excluded)")


def print_memory(memory: dict, ingest: dict) -> None:
    """The memory rows."""
    print(f"\n{'memory':40}{'B/job':>8}{'-payload':>9}")
    print(
        f"{'  Redis, INFO used_memory delta':40}{memory['info_bytes_per_job']:8.0f}"
        f"{memory['info_overhead_bytes_per_job']:9.0f}"
    )
    print(
        f"{'  Redis, MEMORY USAGE (hash + list share)':40}"
        f"{memory['memory_usage_bytes_per_job']:8.0f}"
        f"{memory['memory_usage_overhead_bytes_per_job']:9.0f}"
    )
    print(
        f"  (payload {memory['payload_json_bytes']} B as JSON, "
        f"{memory['stored_data_field_bytes']:.0f} B stored in the job's data field; "
        f"job hash encoding: {memory['job_hash_encoding']})"
    )
    print(
        f"  gateway RSS: gunicorn worker {ingest['worker_rss_mb']:.1f} MB, "
        f"master {ingest['master_rss_mb']:.1f} MB"
    )


def print_table(result: dict, args: argparse.Namespace) -> None:
    """The figures as a readable table on stdout."""
    env = result["environment"]
    print(
        f"\nqueue mode, {args.jobs} jobs, {args.senders} senders, {args.workers} worker "
        f"processes, {env['cores']} cores, upstream: {env['upstream']}"
    )
    if env["busy"]:
        print(f"  warning: {env['busy']}")
    print_ingest(result["ingest"], result["enqueue_in_process"])
    print_deliver(result["deliver"])
    print_memory(result["memory"], result["ingest"])


def environment(bench: Bench) -> dict:
    """Where the figures come from."""
    passed = sorted(k for k in os.environ if k.startswith("SIDECAR_"))
    load = os.getloadavg()[0]
    busy = f"the machine was not idle (load {load:.2f} at start): figures may be low"
    if load > BUSY_LOAD:
        progress(busy)
    return {
        "loadavg_1m_at_start": load,
        "busy": busy if load > BUSY_LOAD else "",
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "redis": bench.client.info("server")["redis_version"],
        "upstream": bench.upstream.kind,
        "sidecar_env_passed_through": passed,
    }


def run_all(bench: Bench) -> dict:
    """Every scenario in turn."""
    return {
        "environment": environment(bench),
        "memory": run_memory(bench),
        "ingest": run_ingest(bench),
        "enqueue_in_process": run_raw_enqueue(bench),
        "deliver": run_deliver(bench),
    }


def bench_in(tmp: Path, procs: Processes, args: argparse.Namespace) -> dict:
    """Start Redis and the upstream, then run every scenario."""
    progress("starting redis-server and the upstream")
    redis_url = start_redis(procs, tmp)
    upstream = start_upstream(procs)
    settings = make_settings(redis_url, upstream.port)
    client = connect(settings)
    try:
        return run_all(Bench(args, procs, redis_url, upstream, settings, client))
    except redis.RedisError as exc:
        raise BenchError(f"Redis failed: {exc}") from None
    finally:
        client.close()


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs / webhooks per scenario")
    parser.add_argument("--senders", type=int, default=8, help="concurrent ingest connections")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="deliveries in flight per n8n-sidecar worker"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds per phase, at most")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: every path, quickly")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.senders, args.timeout = 50, min(args.senders, 4), min(args.timeout, 60)
    if min(args.jobs, args.senders, args.workers, args.concurrency) < 1 or args.jobs < 2:
        parser.error("--jobs must be at least 2; --senders, --workers, --concurrency at least 1")
    return args


def on_sigterm(*_: object) -> None:
    """SIGTERM ends the run like Ctrl-C, so the children are cleaned up."""
    raise KeyboardInterrupt


def main() -> int:
    """Run the benchmark; print (and optionally save) the figures. Exit code."""
    args = parse_args()
    if args.serve_upstream:
        ThreadingHTTPServer(("127.0.0.1", args.serve_upstream), PythonUpstream).serve_forever()
        return 0
    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    procs = Processes(tmp)
    try:
        result = bench_in(tmp, procs, args)
    except BenchError as exc:
        print(f"bench_queue: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_queue: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    shutil.rmtree(tmp, ignore_errors=True)  # kept after an error: the logs it names are there
    print_table(result, args)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"scenario": "queue", "options": vars(args), **result}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
