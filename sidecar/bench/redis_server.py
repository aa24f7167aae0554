"""The benchmark's own redis-server: a free port, a temp dir, the shipped configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from sidecar.bench.procs import BenchError, Processes, free_port, wait_until

# What compose/redis.conf ships that changes speed or size: AOF fsync'd every second (a 202
# means stored durably) and compact job hashes; no RDB snapshots during a run.
SHIPPED_CONFIG = [
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--save", "",
    "--hash-max-listpack-value", "4096",
    "--maxmemory-policy", "noeviction",
    "--protected-mode", "yes",
]  # fmt: skip


def start_redis(procs: Processes, tmp: Path) -> str:
    """Start redis-server on a free port of 127.0.0.1; its URL once PING answers."""
    binary = shutil.which("redis-server")
    if not binary:
        raise BenchError("redis-server not found on PATH (apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    argv += SHIPPED_CONFIG
    proc = procs.start("redis", argv)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)

    def pong() -> bool:
        """True once redis-server answers PING."""
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_until(pong, "redis-server", procs, proc)
    finally:
        client.close()
    return url
