"""The gateway's processes under supervision: when the gunicorn master is killed with
SIGKILL (OOM killer, `kill -9`), its workers notice and leave instead of keeping the port,
answering webhooks nobody supervises and polling n8n for ever."""

from __future__ import annotations

import os
import signal

import psutil

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import answering, wait_until

MASTER_GONE = "is gone: this worker shuts down"  # sidecar/gateway_protocol.py's log line


def workers_of(gateway: Gateway) -> list[psutil.Process]:
    """The gunicorn worker processes of `gateway` (children of its master)."""
    return psutil.Process(gateway.pid).children()


def running(processes: list[psutil.Process]) -> list[int]:
    """The pids among `processes` that still run (a zombie has ended: here nobody may reap
    an orphan)."""
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_workers_leave_when_the_master_is_killed(procs, n8n: FakeN8n) -> None:
    gateway: Gateway = procs.gateway(
        N8N_URL=n8n.url, SIDECAR_MODE="single", SIDECAR_GATEWAY_WORKERS=2
    )
    workers = wait_until(lambda: len(workers_of(gateway)) == 2 and workers_of(gateway), 10)
    assert answering(gateway.port)()

    os.kill(gateway.pid, signal.SIGKILL)
    gateway.process.wait(timeout=10)

    wait_until(lambda: not running(workers), 15, "the orphaned workers to leave")
    assert gateway.output().count(MASTER_GONE) == 2  # each left on its own, gracefully
    assert not answering(gateway.port, statuses=None)()


def test_killing_a_gateway_ends_its_workers_too(procs, n8n: FakeN8n) -> None:
    gateway: Gateway = procs.gateway(N8N_URL=n8n.url, SIDECAR_MODE="single")
    workers = wait_until(lambda: workers_of(gateway), 10)

    gateway.kill()  # the harness's crash: the whole process group at once

    wait_until(lambda: not running(workers), 15, "the workers killed with their master")
    assert MASTER_GONE not in gateway.output()  # killed with it, not left to find out
