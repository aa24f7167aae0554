"""A real, throw-away redis-server subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from .ports import free_port

SYSTEM_REDIS_PORT = 6379
LOG_NAME = "redis.log"


class RedisServer:
    """Runs `redis-server` from PATH in its own temp dir, never on the system port."""

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        startup_timeout: float = 5.0,
    ) -> None:
        """Prepare (but do not start) a server; `extra_args` go last on the command line."""
        self._port = port if port is not None else free_port()
        if self._port == SYSTEM_REDIS_PORT:
            raise ValueError("RedisServer must never use the system redis port 6379")
        self._extra_args = [str(arg) for arg in extra_args]
        self._startup_timeout = startup_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="sidecar-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """TCP port the server listens on (stable across restarts)."""
        return self._port

    @property
    def dir(self) -> Path:
        """Working directory of the server (AOF/RDB files, redis.log)."""
        return self._dir

    @property
    def password(self) -> str | None:
        """Password given with `--requirepass` in extra_args, if any."""
        args = self._extra_args
        for index, arg in enumerate(args[:-1]):
            if arg == "--requirepass":
                return args[index + 1]
        return None

    @property
    def url(self) -> str:
        """redis:// URL of database 0 (with the password when one is set)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self._port}/0"

    @property
    def alive(self) -> bool:
        """True while the subprocess is running."""
        return self._proc is not None and self._proc.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """Return a new redis.Redis connected to this server."""
        return redis.Redis.from_url(self.url, **kwargs)

    def start(self) -> RedisServer:
        """Start the subprocess (no-op if running) and wait until PING answers."""
        if self.alive:
            return self
        with open(self._dir / LOG_NAME, "ab") as log:
            self._proc = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self._dir
            )
        self._wait_ready()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Send SIGTERM and wait for the process to exit (SIGKILL after `timeout`)."""
        if not self.alive:
            return
        assert self._proc is not None
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Send SIGKILL and reap the process (simulates a crash)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()

    def restart(self) -> RedisServer:
        """Stop if running, then start again on the same port and dir."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its temp dir."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log(self) -> str:
        """Return what redis-server wrote to stdout/stderr so far."""
        path = self._dir / LOG_NAME
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> RedisServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and remove its dir."""
        self.cleanup()

    def _command(self) -> list[str]:
        """Build the redis-server command line."""
        base = ["redis-server", "--port", str(self._port), "--bind", "127.0.0.1"]
        base += ["--dir", str(self._dir), "--save", "", "--appendonly", "no"]
        return [*base, "--daemonize", "no", *self._extra_args]

    def _wait_ready(self) -> None:
        """Poll PING until it answers; raise RuntimeError with the log otherwise."""
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            self._raise_if_exited()
            if self._ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"redis-server on 127.0.0.1:{self._port} did not answer PING within "
            f"{self._startup_timeout}s; log:\n{self.log()[-2000:]}"
        )

    def _raise_if_exited(self) -> None:
        """Raise RuntimeError if the subprocess already exited."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise RuntimeError(
                f"redis-server on 127.0.0.1:{self._port} exited with code {code}; "
                f"command: {self._command()}; log:\n{self.log()[-2000:]}"
            )

    def _ping(self) -> bool:
        """Return True if the server answers PING (LOADING counts as not ready)."""
        client = self.client(socket_connect_timeout=0.25, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
