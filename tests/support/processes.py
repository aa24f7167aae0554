"""Real sidecar processes for tests: the gunicorn gateway and delivery workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def sidecar_env(**settings: object) -> dict[str, str]:
    """A clean environment for a sidecar process: PATH plus the given settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SIDECAR_", "REDIS_", "N8N_", "PROMETHEUS_"))
    }
    env.update({key: str(value) for key, value in settings.items()})
    return env


class Gateway:
    """`n8n-sidecar serve` as a subprocess on a free port; `url`, `stop()`, `kill()`."""

    def __init__(self, **settings: object) -> None:
        self.port = free_port()
        env = sidecar_env(**{"SIDECAR_PORT": self.port, "SIDECAR_LOG_LEVEL": "WARNING", **settings})
        # Output to a file, not a pipe: nobody reads a pipe while the gateway runs, and a
        # full one (a long session of warnings) would block the gateway's next log line.
        fd, name = tempfile.mkstemp(prefix="sidecar-gateway-", suffix=".log")
        self._log = Path(name)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "serve"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
        )
        os.close(fd)
        self._wait_ready()

    @property
    def url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.output()}")
            try:
                requests.get(f"{self.url}/healthz", timeout=0.5)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up, or still booting
                time.sleep(0.05)
        raise RuntimeError("gateway did not start within 20 s")

    def output(self) -> str:
        """What the process printed so far."""
        return self._log.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.terminate()
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Send SIGKILL and reap the process."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class Worker:
    """`n8n-sidecar worker ARGS…` as a subprocess; output goes to a temp file (never a pipe
    that could fill up and block the worker). `wait()`, `terminate()`, `kill()`, `output()`."""

    def __init__(self, *args: str, **settings: object) -> None:
        self.args = args
        fd, name = tempfile.mkstemp(prefix="sidecar-worker-", suffix=".log")
        self._log = Path(name)
        env = sidecar_env(
            SIDECAR_LOG_LEVEL="INFO", PYTHONUNBUFFERED=1, PYTHONFAULTHANDLER=1, **settings
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "worker", *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
        )
        os.close(fd)

    @property
    def pid(self) -> int:
        """Process id."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit; its exit code (TimeoutExpired if it does not)."""
        return self.process.wait(timeout=timeout)

    def terminate(self) -> None:
        """Send SIGTERM (finish deliveries in flight, then exit) without waiting."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL (a crashed worker) and reap the process."""
        if self.alive:
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; the exit code (AssertionError, after a SIGKILL, if it hangs)."""
        self.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
            self.kill()
            raise AssertionError(
                f"worker did not exit within {timeout} s of SIGTERM; output:\n{self.output()}"
            ) from None

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        return self._log.read_text(errors="replace")

    def close(self) -> None:
        """Kill the process if it still runs and remove its log."""
        self.kill()
        self._log.unlink(missing_ok=True)
