"""Child processes with a log file each: start, wait until ready, describe an exit, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.harness.errors import HarnessError
from sidecar.harness.waiting import wait_until

STOP_GRACE_SECONDS = 10.0
READY_POLL_SECONDS = 0.05


@dataclass
class Processes:
    """Every child process started through it, with its log file in `logdir`; `stop_all`
    ends them. Output goes to a file, never a pipe: nobody reads a pipe while the child
    runs, and a full one would block the child's next log line."""

    logdir: Path
    started: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen:
        """Start `argv` (in `cwd`, default the log dir) with its output going to a log file."""
        log = self.logdir / f"{name}-{len(self.started)}.log"
        with open(log, "wb") as handle:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd or self.logdir,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                # Its own process group, for kill_group; not its own session: Linux schedules
                # each session as one group (autogroup), and the bench's processes are to
                # share the cores as they always did.
                process_group=0,
            )
        self.started.append((name, proc, log))
        return proc

    def log_of(self, proc: subprocess.Popen) -> Path:
        """The log file of `proc`."""
        return next(log for _, started, log in self.started if started is proc)

    def output(self, proc: subprocess.Popen) -> str:
        """What `proc` printed so far (stdout and stderr)."""
        return self.log_of(proc).read_text(errors="replace")

    def describe_exit(self, proc: subprocess.Popen) -> str:
        """'NAME exited with code N: last log line (log: path)' for an error message."""
        name, log = next((n, lg) for n, p, lg in self.started if p is proc)
        lines = [line for line in self.output(proc).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        return f"{name} exited with code {proc.poll()}: {last} (log: {log})"

    def wait_ready(
        self,
        proc: subprocess.Popen,
        ready: Callable[[], object],
        what: str,
        timeout: float = 30.0,
    ) -> None:
        """Poll `ready` until true; HarnessError when `proc` exits first or time runs out."""

        def check() -> object:
            """`ready()`, unless the process is gone."""
            if proc.poll() is not None:
                raise HarnessError(self.describe_exit(proc))
            return ready()

        wait_until(check, timeout, what, READY_POLL_SECONDS)

    def stop(self, *procs: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
        """Terminate `procs` together; kill those still running after `grace` seconds."""
        alive = [proc for proc in procs if proc.poll() is None]
        for proc in alive:
            proc.terminate()
        deadline = time.monotonic() + grace
        for proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill_group(proc)

    def kill_group(self, proc: subprocess.Popen) -> None:
        """SIGKILL `proc` and every process of its group (a gunicorn master and its workers),
        then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_GRACE_SECONDS)

    def stop_all(self) -> None:
        """Stop every process still running."""
        self.stop(*(proc for _, proc, _ in self.started))
