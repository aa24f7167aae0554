"""Child processes of a benchmark run: start with a log file, wait until ready, stop, measure."""

from __future__ import annotations

import http.client
import resource
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STOP_GRACE_SECONDS = 10.0
MB = 1024 * 1024


class BenchError(Exception):
    """A one-line reason the benchmark cannot go on."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def stop(self, *procs: subprocess.Popen) -> None:
        """Terminate `procs` together; kill those still running after the grace period."""
        alive = [proc for proc in procs if proc.poll() is None]
        for proc in alive:
            proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_SECONDS)

    def stop_all(self) -> None:
        """Stop every process still running."""
        self.stop(*(proc for _, proc, _ in self.started))


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


def answering(port: int, path: str = "/healthz") -> Callable[[], bool]:
    """A check that an HTTP GET of `path` on 127.0.0.1:port answers 200 (a gunicorn master
    accepts connections before its workers have booted)."""

    def check() -> bool:
        """True once the answer is 200."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

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


def gateway_rss(pid: int) -> dict[str, float]:
    """RSS of the gunicorn master and of its (largest) worker, MiB."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        children = []
    worker = max((rss_mb(child.pid) for child in children), default=0.0)
    return {"master_rss_mb": rss_mb(pid), "worker_rss_mb": worker}
