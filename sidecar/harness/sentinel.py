"""A real Sentinel set-up on loopback ports: a primary, a replica and three `redis-sentinel`
processes watching them (down after 1 s), for the failover fault and the tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.redis_server import answers, redis_binary, replica_link_up

MASTER = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
SENTINELS = 3


@dataclass
class SentinelSet:
    """Primary, replica and sentinels; `password` protects the data nodes, `sentinel_password`
    the sentinels. `primary_port` is the first primary's; after a failover ask `primary()`."""

    procs: Processes
    tmp: Path
    password: str | None = None
    sentinel_password: str | None = None
    data_ports: list[int] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)
    nodes: dict[int, subprocess.Popen] = field(default_factory=dict)

    @property
    def sentinels_setting(self) -> str:
        """REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def settings(self) -> dict[str, str]:
        """The sidecar's variables for this set-up."""
        env = {"REDIS_SENTINELS": self.sentinels_setting, "REDIS_SENTINEL_MASTER": MASTER}
        if self.password:
            env["REDIS_PASSWORD"] = self.password
        if self.sentinel_password:
            env["REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        return env

    def start(self, data_args: tuple[str, ...] = ()) -> SentinelSet:
        """Start the primary, its replica and the sentinels; return once all answer."""
        primary, replica = free_port(), free_port()
        self.data_ports = [primary, replica]
        self._data_node(primary, data_args)
        self._data_node(replica, (*data_args, "--replicaof", "127.0.0.1", str(primary)))
        self.procs.wait_ready(self.nodes[replica], self._replica_synced, "replica")
        for _ in range(SENTINELS):
            self._sentinel(free_port(), primary)
        return self

    def client(self) -> redis.Redis:
        """A client of whichever node is primary (through the sentinels)."""
        nodes = [("127.0.0.1", port) for port in self.sentinel_ports]
        kwargs = {"password": self.sentinel_password, "socket_timeout": 1}
        sentinel = Sentinel(nodes, sentinel_kwargs=kwargs)
        return sentinel.master_for(MASTER, password=self.password, socket_timeout=5)

    def kill_primary(self) -> int:
        """kill -9 the current primary; its port."""
        port = self.primary_port()
        proc = self.nodes[port]
        proc.kill()
        proc.wait()
        return port

    def primary_port(self) -> int:
        """The port the sentinels name as primary now."""
        client = self._sentinel_client(self.sentinel_ports[0])
        try:
            _, port = client.sentinel_get_master_addr_by_name(MASTER)
        finally:
            client.close()
        return int(port)

    def _data_node(self, port: int, args: tuple[str, ...]) -> None:
        argv = [redis_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.tmp), "--appendfilename", f"aof-{port}.aof"]
        argv += ["--appenddirname", f"aof-{port}", "--dbfilename", f"dump-{port}.rdb"]
        if self.password:
            argv += ["--requirepass", self.password, "--masterauth", self.password]
        proc = self.procs.start(f"redis-{port}", [*argv, *args])
        self.nodes[port] = proc
        self.procs.wait_ready(proc, lambda: self._pings(port), "redis-server")

    def _sentinel(self, port: int, primary: int) -> None:
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {self.tmp}",
            f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {MASTER} {self.password}")
        if self.sentinel_password:
            lines += [f"requirepass {self.sentinel_password}"]
            lines += [f"sentinel sentinel-pass {self.sentinel_password}"]
        config = self.tmp / f"sentinel-{port}.conf"
        config.write_text("\n".join(lines) + "\n")
        proc = self.procs.start(f"sentinel-{port}", [redis_binary("redis-sentinel"), str(config)])
        self.sentinel_ports.append(port)
        self.procs.wait_ready(proc, lambda: self._knows_primary(port), "redis-sentinel")

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=1)

    def _sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=1)

    def _pings(self, port: int) -> bool:
        return answers(self._client(port), redis.Redis.ping)

    def _replica_synced(self) -> bool:
        return answers(self._client(self.data_ports[1]), replica_link_up)

    def _knows_primary(self, port: int) -> bool:
        return answers(self._sentinel_client(port), _names_primary)


def _names_primary(client: redis.Redis) -> bool:
    """True when a sentinel names a primary."""
    return client.sentinel_get_master_addr_by_name(MASTER) is not None
