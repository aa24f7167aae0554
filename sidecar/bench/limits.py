"""The open-file limit of the benchmark process (and so of its children: hey, the gateway,
the upstream), raised for the scenarios that hold a thousand connections or more."""

from __future__ import annotations

import resource

from sidecar.bench.errors import BenchError

SPARE_FILES = 1024  # Redis, logs, the run's other sockets


def raise_open_files(connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE to room for `connections` sockets on each side of a
    proxy, up to the hard limit; the soft limit now. BenchError when the hard limit is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise BenchError(
                f"{connections} connections need {wanted} open files; the hard limit is {hard}"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft
