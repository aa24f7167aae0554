"""Memory in use, in percent, for SIDECAR_MEMORY_SOURCE=host.

Inside a container with a memory limit the limit is what runs out, so the cgroup is read:
v2 `memory.max` / `memory.current` / `memory.stat`, else v1 `memory/memory.limit_in_bytes` /
`memory.usage_in_bytes` / `memory.stat`. Reclaimable page cache (`inactive_file`, v1
`total_inactive_file`) is not counted as used, as `docker stats` and the kubelet's working
set do — otherwise a container that merely read files looks full. With no limit (v2 "max",
v1's huge sentinel, or a limit above the machine's memory) the machine's figure from
psutil is used.
"""

from __future__ import annotations

from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int | None:
    """An integer file's value; None when missing, unreadable or not a number ("max")."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, name: str) -> int:
    """One counter of a cgroup memory.stat file; 0 when absent."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


def _files(root: Path) -> tuple[Path, Path, Path, str] | None:
    """(limit, usage, stat, inactive-file counter) of the cgroup version found at `root`."""
    if (root / "memory.max").exists():
        return root / "memory.max", root / "memory.current", root / "memory.stat", "inactive_file"
    v1 = root / "memory"
    if (v1 / "memory.limit_in_bytes").exists():
        limit, usage = v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes"
        return limit, usage, v1 / "memory.stat", "total_inactive_file"
    return None


def cgroup_memory_percent(
    root: Path = CGROUP_ROOT, machine_bytes: int | None = None
) -> float | None:
    """Percent of the cgroup memory limit in use; None when there is no binding limit."""
    files = _files(root)
    if files is None:
        return None
    limit_path, usage_path, stat_path, inactive_name = files
    limit, usage = _read_int(limit_path), _read_int(usage_path)
    machine = machine_bytes if machine_bytes is not None else psutil.virtual_memory().total
    if not limit or usage is None or limit >= machine:
        return None
    used = max(0, usage - _stat_value(stat_path, inactive_name))
    return used / limit * 100.0


def host_memory_percent(root: Path = CGROUP_ROOT) -> float:
    """Memory in use: the cgroup limit's share when one binds, else the machine's."""
    in_cgroup = cgroup_memory_percent(root)
    return in_cgroup if in_cgroup is not None else float(psutil.virtual_memory().percent)
