"""What a 202 means on this Redis: its persistence and replication settings, read from the
server itself (CONFIG GET where allowed, INFO otherwise), and the guarantee they give.

CONFIG may be disabled or renamed (managed Redis): then `appendfsync` is unknown and the
report says so; INFO still tells whether AOF is on, the eviction policy and the replicas.
A `maxmemory-policy` other than `noeviction` lets Redis evict queued jobs: a loud warning.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field

import redis

log = logging.getLogger("sidecar.durability")
UNKNOWN = "unknown"
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Durability:
    """Redis' durability settings as read, and what they mean for an accepted webhook."""

    version: str
    appendonly: str  # "yes", "no" or UNKNOWN
    appendfsync: str  # "always", "everysec", "no" or UNKNOWN
    maxmemory_policy: str
    replicas: int
    waitaof: bool  # WAITAOF exists (Redis >= 7.2)
    warnings: list[str] = field(default_factory=list)

    @property
    def guarantee(self) -> str:
        """One sentence: what a 202 survives."""
        if self.appendonly == "no":
            return "in memory only: a Redis crash or restart loses every queued webhook"
        if self.appendfsync == "always":
            return "on disk before the 202 (fsync'd): survives a Redis crash and a power loss"
        if self.appendfsync == "everysec":
            return (
                "written before the 202, fsync'd within about 1 s: survives a Redis crash; "
                "a power loss may lose the last second"
            )
        if self.appendfsync == "no":
            return (
                "written before the 202, flushed by the OS (often 30 s): survives a Redis "
                "crash; a power loss may lose that much"
            )
        return "unknown: CONFIG is not allowed, so appendfsync cannot be read"

    def to_json(self) -> dict:
        """The camelCase form for /readyz and `status --json`."""
        data = asdict(self)
        return {
            "redisVersion": data["version"],
            "appendonly": data["appendonly"],
            "appendfsync": data["appendfsync"],
            "maxmemoryPolicy": data["maxmemory_policy"],
            "replicas": data["replicas"],
            "waitaof": data["waitaof"],
            "guarantee": self.guarantee,
            "warnings": data["warnings"],
        }


def version_tuple(version: str) -> tuple[int, ...]:
    """'7.2.4' as (7, 2, 4); non-numbers count as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in version.split(".")[:3])


def config_value(client: redis.Redis, name: str) -> str | None:
    """CONFIG GET `name`, or None when CONFIG is disabled, renamed or not allowed."""
    try:
        reply = client.config_get(name)
    except redis.ResponseError:
        return None
    value = reply.get(name)
    return value.decode() if isinstance(value, bytes) else value


def read_durability(client: redis.Redis) -> Durability:
    """Read the settings (redis.RedisError when Redis cannot be reached)."""
    info = client.info()
    version = str(info.get("redis_version", "0"))
    appendonly = config_value(client, "appendonly")
    if appendonly is None:
        appendonly = "yes" if info.get("aof_enabled") else "no"
    appendfsync = config_value(client, "appendfsync") or UNKNOWN
    policy = str(info.get("maxmemory_policy") or config_value(client, "maxmemory-policy") or "")
    durability = Durability(
        version=version,
        appendonly=appendonly,
        appendfsync=appendfsync,
        maxmemory_policy=policy or UNKNOWN,
        replicas=int(info.get("connected_slaves", 0)),
        waitaof=version_tuple(version) >= (7, 2),
    )
    return Durability(**{**asdict(durability), "warnings": warnings_for(durability)})


def warnings_for(durability: Durability) -> list[str]:
    """What an operator must hear about these settings."""
    found = []
    if durability.maxmemory_policy not in ("noeviction", UNKNOWN):
        found.append(
            f"maxmemory-policy is {durability.maxmemory_policy}: Redis may EVICT queued "
            "webhooks when memory is full; set maxmemory-policy noeviction"
        )
    if durability.appendonly == "no":
        found.append("appendonly is no: a Redis restart loses every queued webhook")
    if durability.appendfsync == UNKNOWN:
        found.append("CONFIG GET is not allowed: appendfsync unknown, the guarantee is unknown")
    return found


def log_durability(client: redis.Redis) -> Durability | None:
    """Read and log the durability at start-up; warnings at WARNING. None when unreadable."""
    try:
        durability = read_durability(client)
    except redis.RedisError as exc:
        log.warning("cannot read Redis durability settings yet: %s", type(exc).__name__)
        return None
    log.info(
        "Redis %s: appendonly=%s appendfsync=%s maxmemory-policy=%s replicas=%d; a 202 is %s",
        durability.version,
        durability.appendonly,
        durability.appendfsync,
        durability.maxmemory_policy,
        durability.replicas,
        durability.guarantee,
    )
    for warning in durability.warnings:
        log.warning("Redis durability: %s", warning)
    return durability


class DurabilityProbe:
    """`current()`: the durability read at most every CACHE_SECONDS (None if unreadable)."""

    def __init__(self, client: redis.Redis, cache_seconds: float = CACHE_SECONDS) -> None:
        self.client, self.cache_seconds = client, cache_seconds
        self._lock = threading.Lock()
        self._read_at, self._value = -cache_seconds, None

    def current(self) -> Durability | None:
        """The cached reading, refreshed when older than the cache period."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                try:
                    self._value = read_durability(self.client)
                except redis.RedisError:
                    self._value = None
                self._read_at = time.monotonic()
            return self._value
