"""Lua scripts from sidecar/backend/lua, registered once per Redis client."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import redis
from redis.commands.core import Script

NAMES = (
    "dequeue",
    "record",
    "sweep_stalled",
    "promote_scheduled",
    "trim_registry",
    "ingest",
    "trim_dead_letters",
)


@cache
def source(name: str) -> str:
    """The text of sidecar/backend/lua/{name}.lua."""
    return (files("sidecar") / "backend" / "lua" / f"{name}.lua").read_text()


class Scripts:
    """The sidecar's Lua scripts bound to one client: `scripts.dequeue(keys=…, args=…)`."""

    def __init__(self, client: redis.Redis) -> None:
        for name in NAMES:
            setattr(self, name, client.register_script(source(name)))

    dequeue: Script
    record: Script
    sweep_stalled: Script
    promote_scheduled: Script
    trim_registry: Script
    ingest: Script
    trim_dead_letters: Script
