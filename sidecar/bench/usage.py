"""What the benchmark's child processes use: CPU seconds and resident memory."""

from __future__ import annotations

import resource

import psutil

MB = 1024 * 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` and its descendants."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in family:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def reaped_children_cpu_seconds() -> float:
    """User + system CPU seconds of every child process this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (0 when it is gone)."""
    try:
        return psutil.Process(pid).memory_info().rss / MB
    except psutil.Error:
        return 0.0


def gateway_rss(pid: int) -> dict[str, float]:
    """RSS of the gunicorn master and of its (largest) worker, MiB."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        children = []
    worker = max((rss_mb(child.pid) for child in children), default=0.0)
    return {"master_rss_mb": rss_mb(pid), "worker_rss_mb": worker}


def tree_rss_mb(pid: int) -> float:
    """Resident memory of process `pid` and its descendants, MiB."""
    try:
        family = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return 0.0
    return sum(rss_mb(member) for member in family)


def open_connections(port: int) -> int:
    """Established TCP connections to 127.0.0.1:`port` (accepted or still in its backlog)."""
    return sum(
        1
        for conn in psutil.net_connections("tcp4")
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )
