"""Looking at queue-mode state the way an operator would: through RQ's own API and keys."""

from __future__ import annotations

from typing import Any

import redis
import requests
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from sidecar.harness.n8n_standin import FakeN8n, Received
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until

INBOUND = "flrts:webhooks:inbound"
DEAD_LETTER = "flrts:dead-letter"


def enqueue(gateway: Gateway, path: str, method: str = "POST", **kwargs: Any) -> str:
    """Send a webhook to a queue-mode gateway; the job id of its 202."""
    response = requests.request(method, gateway.url + path, timeout=10, **kwargs)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def fetch(client: redis.Redis, job_id: str) -> Job:
    """The RQ job `job_id`, read with RQ's own code and the JSON serializer."""
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


def queue(client: redis.Redis, name: str = INBOUND) -> Queue:
    """RQ's view of queue `name`."""
    return Queue(name, connection=client, serializer=JSONSerializer)


def counts(client: redis.Redis, name: str = INBOUND) -> dict[str, int]:
    """What `rq info` shows for a queue: waiting plus each registry."""
    q = queue(client, name)
    return {
        "queued": q.count,
        "started": q.started_job_registry.count,
        "scheduled": q.scheduled_job_registry.count,
        "finished": q.finished_job_registry.count,
        "failed": q.failed_job_registry.count,
    }


def dead_letters(client: redis.Redis) -> list[dict[str, Any]]:
    """The payloads of the dead-letter queue's entries, oldest first."""
    return [job.args[0] for job in queue(client, DEAD_LETTER).jobs]


def status(client: redis.Redis, job_id: str) -> str:
    """The RQ status of `job_id` ('' once the job is gone)."""
    raw = client.hget(f"rq:job:{job_id}", "status")
    return raw.decode() if raw else ""


def received_for(n8n: FakeN8n, job_id: str) -> list[Received]:
    """The requests fake n8n got for job `job_id` (by X-Sidecar-Job-Id)."""
    return [r for r in n8n.received if r.header("X-Sidecar-Job-Id") == job_id]


def webhooks(n8n: FakeN8n) -> list[Received]:
    """The webhook requests n8n got, leaving out the gateways' /healthz probes and the
    workers' readiness probes."""
    return [r for r in n8n.received if not r.path.startswith("/healthz")]


def wait_webhooks(n8n: FakeN8n, n: int, timeout: float = 10.0) -> list[Received]:
    """Wait until n8n got at least `n` webhook requests; all of them."""
    wait_until(lambda: len(webhooks(n8n)) >= n, timeout, f"{n} webhook(s) at n8n")
    return webhooks(n8n)
