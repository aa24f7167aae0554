"""Accepted webhooks survive a Redis crash: with the AOF fsynced on every write (the test's
`appendfsync always`; compose/redis.conf uses everysec, at most a second at risk), every
job answered 202 is still there after SIGKILL and a restart on the same directory, and a
worker delivers them all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from conftest import FAST_QUEUE_SETTINGS
from support.queues import counts, status, webhooks

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.redis_server import RedisServer

AOF = ("--appendonly", "yes", "--appendfsync", "always")
WEBHOOKS = 40


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=AOF) as server:
        yield server


def test_accepted_jobs_survive_sigkill_and_are_all_delivered(
    durable_redis: RedisServer, n8n: FakeN8n, procs
) -> None:
    env = {**FAST_QUEUE_SETTINGS, "REDIS_URL": durable_redis.url, "N8N_URL": n8n.url}
    gateway = procs.gateway(**env)
    accepted = {}
    for number in range(WEBHOOKS):
        response = requests.post(
            f"{gateway.url}/webhook/echo/durable", data=f"webhook {number}", timeout=20
        )
        assert response.status_code == 202, response.text
        accepted[response.json()["jobId"]] = f"webhook {number}".encode()
    gateway.stop()

    durable_redis.kill()  # SIGKILL: no shutdown save, only what the AOF holds
    durable_redis.start()  # same port, same directory

    with durable_redis.client() as client:
        assert {job_id: status(client, job_id) for job_id in accepted} == dict.fromkeys(
            accepted, "queued"
        )
        worker = procs.worker("--burst", **env)
        assert worker.wait(60) == 0, worker.output()
        assert counts(client)["finished"] == WEBHOOKS

    delivered = Counter(
        (r.header("X-Sidecar-Job-Id"), r.body)
        for r in webhooks(n8n)
        if r.path == "/webhook/echo/durable"
    )
    assert delivered == Counter(accepted.items())  # each one once, with its own body
