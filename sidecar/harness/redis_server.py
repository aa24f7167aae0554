"""A real, throw-away redis-server subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from sidecar.harness.errors import HarnessError
from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.waiting import wait_until

SYSTEM_REDIS_PORT = 6379
# What compose/redis.conf ships that changes speed or size: AOF fsync'd every second (a 202
# means stored durably) and compact job hashes; no RDB snapshots during a run.
SHIPPED_CONFIG = (
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--save", "",
    "--hash-max-listpack-value", "4096",
    "--maxmemory-policy", "noeviction",
    "--protected-mode", "yes",
)  # fmt: skip


def answers(client: redis.Redis, question: Callable[[redis.Redis], object]) -> bool:
    """True when `question(client)` is truthy, False on a Redis error; closes `client`."""
    try:
        return bool(question(client))
    except redis.RedisError:
        return False
    finally:
        client.close()


def replica_link_up(client: redis.Redis) -> bool:
    """True when a replica's link to its primary is up (it is in sync)."""
    return client.info("replication").get("master_link_status") == "up"


def redis_binary(name: str = "redis-server") -> str:
    """Path of `name` (redis-server, redis-sentinel); HarnessError naming the package."""
    binary = shutil.which(name)
    if not binary:
        raise HarnessError(f"{name} not found on PATH (apt-get install {name})")
    return binary


class RedisServer:
    """Runs `redis-server` from PATH in a dir of its own, never on the system port. It can be
    killed (-9), stopped (SIGTERM) and started again on its port and dir (from its AOF)."""

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        startup_timeout: float = 5.0,
        procs: Processes | None = None,
    ) -> None:
        """Prepare (but do not start) a server; `extra_args` go last on the command line.
        Given `procs`, it runs (and logs) there, in a dir inside its log dir that stays;
        else in a temp dir of its own that `cleanup` removes."""
        self._port = port if port is not None else free_port()
        if self._port == SYSTEM_REDIS_PORT:
            raise ValueError("RedisServer must never use the system redis port 6379")
        self._extra_args = [str(arg) for arg in extra_args]
        self._startup_timeout = startup_timeout
        self._owns_dir = procs is None
        if procs is None:
            self._dir = Path(tempfile.mkdtemp(prefix="sidecar-redis-"))
            procs = Processes(self._dir)
        else:
            self._dir = procs.logdir / f"redis-{self._port}"
            self._dir.mkdir()
        self._procs = procs
        self._proc: subprocess.Popen | None = None

    @property
    def port(self) -> int:
        """TCP port the server listens on (stable across restarts)."""
        return self._port

    @property
    def dir(self) -> Path:
        """Working directory of the server (AOF/RDB files)."""
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
        self._proc = self._procs.start(f"redis-{self._port}", self._command())
        try:
            wait_until(self._ready, self._startup_timeout, f"redis-server on {self._address}")
        except HarnessError:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Send SIGTERM and wait for the process to exit (SIGKILL after `timeout`)."""
        if self.alive:
            assert self._proc is not None
            self._procs.stop(self._proc, grace=timeout)

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
        """Stop the server and delete its dir if it is a temp dir of its own."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def log(self) -> str:
        """Return what redis-server wrote to stdout/stderr since it last started."""
        return self._procs.output(self._proc) if self._proc is not None else ""

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

    @property
    def _address(self) -> str:
        return f"127.0.0.1:{self._port}"

    def _command(self) -> list[str]:
        """Build the redis-server command line."""
        base = [redis_binary(), "--port", str(self._port), "--bind", "127.0.0.1"]
        base += ["--dir", str(self._dir), "--save", "", "--appendonly", "no"]
        return [*base, "--daemonize", "no", *self._extra_args]

    def _ready(self) -> bool:
        """True once PING answers; HarnessError when the process has exited."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise HarnessError(
                f"redis-server on {self._address} exited with code {code}; "
                f"command: {self._command()}; log:\n{self.log()[-2000:]}"
            )
        return self._ping()

    def _ping(self) -> bool:
        """Return True if the server answers PING (LOADING counts as not ready)."""
        client = self.client(socket_connect_timeout=0.25, socket_timeout=0.5)
        return answers(client, redis.Redis.ping)
