"""Real sidecar processes: the gunicorn gateway (`n8n-sidecar serve`) and delivery workers
(`n8n-sidecar worker`), each with its output in a log file."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.waiting import answering

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_START_SECONDS = 20.0


def sidecar_argv(*args: str) -> list[str]:
    """The command line of `n8n-sidecar ARGS…` with this interpreter."""
    return [sys.executable, "-m", "sidecar", *args]


def sidecar_env(**settings: object) -> dict[str, str]:
    """A clean environment for a sidecar process: PATH plus the given settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SIDECAR_", "REDIS_", "N8N_", "PROMETHEUS_"))
    }
    env.update({key: str(value) for key, value in settings.items()})
    return env


class _Child:
    """One sidecar subprocess started in the repository root, logging to a temp dir."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self._procs = Processes(Path(tempfile.mkdtemp(prefix=f"sidecar-{name}-")))
        self.process = self._procs.start(name, sidecar_argv(*args), env, cwd=ROOT)

    @property
    def pid(self) -> int:
        """Process id."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        return self._procs.output(self.process)

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process with its children (a gateway's gunicorn workers) and reap it."""
        self._procs.kill_group(self.process)

    def close(self) -> None:
        """Kill the process if it still runs and remove its log."""
        self.kill()
        shutil.rmtree(self._procs.logdir, ignore_errors=True)


class Gateway(_Child):
    """`n8n-sidecar serve` on a free port, once /healthz answers; `url`, `stop()`, `kill()`."""

    def __init__(self, **settings: object) -> None:
        self.port = free_port()
        env = sidecar_env(**{"SIDECAR_PORT": self.port, "SIDECAR_LOG_LEVEL": "WARNING", **settings})
        super().__init__("gateway", ["serve"], env)
        ready = answering(self.port, statuses=None)  # any answer: booted
        self._procs.wait_ready(self.process, ready, "gateway", GATEWAY_START_SECONDS)

    @property
    def url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        self.terminate()
        return self.process.wait(timeout=timeout)


class Worker(_Child):
    """`n8n-sidecar worker ARGS…` as a subprocess. `wait()`, `terminate()`, `kill()`,
    `output()`."""

    def __init__(self, *args: str, **settings: object) -> None:
        self.args = args
        env = sidecar_env(
            SIDECAR_LOG_LEVEL="INFO", PYTHONUNBUFFERED=1, PYTHONFAULTHANDLER=1, **settings
        )
        super().__init__("worker", ["worker", *args], env)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit; its exit code (TimeoutExpired if it does not)."""
        return self.process.wait(timeout=timeout)

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
