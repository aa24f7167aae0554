"""A resend after the dedup window (GitHub "Redeliver", Stripe/Svix resends, the same body an
hour later) is a new job: its 202 names a job of its own that lives until it is delivered,
and the first job — finished, failed, still waiting or scheduled for a retry — is left as
it is. The dedup window (1 s) is shorter than retention and backoff (600 s) on purpose.

The webhooks go in through the gateway app (Flask test client), a real worker process
delivers them to the fake n8n."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient
from support.queues import received_for, status

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.waiting import wait_until
from sidecar.settings import load_settings

PATH = "/webhook/echo/resend"
DELIVERY = {"X-GitHub-Delivery": "delivery-1"}
ONE_QUEUE = ("--queue", "webhooks:inbound")
LONGER_THAN_THE_WINDOW = {
    "SIDECAR_DEDUP_TTL_SECONDS": 1,
    "SIDECAR_KEEP_COMPLETED_SECONDS": 600,
    "SIDECAR_KEEP_FAILED_SECONDS": 600,
    "SIDECAR_JOB_BACKOFF_SECONDS": 600,
}
# How n8n answers the first job so that it ends up in each state (the resend gets a 200).
FIRST_ANSWER = {
    "finished": Reply(200),
    "failed": Reply(400),  # not retried: failed and dead-lettered at once
    "scheduled": Reply(503),  # retried in 600 s
}


@pytest.fixture
def env(queue_env: dict[str, object]) -> dict[str, object]:
    return {**queue_env, **LONGER_THAN_THE_WINDOW}


@pytest.fixture
def gateway(env: dict[str, object]) -> FlaskClient:
    given = {**env, "SIDECAR_ADMIN_TOKENS": "viewer:v-token"}
    settings = load_settings(_env_file=None, **{k: str(v) for k, v in given.items()})
    return create_app(settings).test_client()


def send(gateway: FlaskClient) -> str:
    response = gateway.post(PATH, headers=DELIVERY, data=b'{"n": 1}')
    assert response.status_code == 202, response.get_json()
    return response.get_json()["jobId"]


def run_worker_until(procs, env: dict[str, object], done) -> None:
    worker = procs.worker(*ONE_QUEUE, **env)
    try:
        wait_until(done, 30, "the worker to get there")
    finally:
        worker.terminate()
        assert worker.wait(30) == 0, worker.output()


def leave_in(state: str, job_id: str, rdb: redis.Redis, n8n: FakeN8n, procs, env) -> None:
    """Bring the first job to `state` with a real worker (queued: no worker at all)."""
    if state == "queued":
        return
    n8n.script(PATH, [FIRST_ANSWER[state], Reply(200)])
    run_worker_until(procs, env, lambda: status(rdb, job_id) == state)


@pytest.mark.parametrize("state", ["finished", "failed", "queued", "scheduled"])
def test_a_resend_after_the_window_is_a_new_job_that_is_delivered(
    gateway: FlaskClient, rdb: redis.Redis, n8n: FakeN8n, procs, env, state: str
) -> None:
    first = send(gateway)
    leave_in(state, first, rdb, n8n, procs, env)
    kept = rdb.hgetall(f"rq:job:{first}")
    wait_until(lambda: not rdb.keys("sidecar:dedup:*"), 10, "the dedup window to end")

    again = send(gateway)

    assert again != first
    delivered = {again, first} if state == "queued" else {again}  # a waiting first job too
    run_worker_until(procs, env, lambda: {status(rdb, j) for j in delivered} == {"finished"})
    assert len(received_for(n8n, again)) == 1
    assert rdb.ttl(f"rq:job:{again}") > 500  # kept as long as completed jobs are
    shown = gateway.get(f"/v1/jobs/{again}", headers={"Authorization": "Bearer v-token"})
    assert (shown.status_code, shown.get_json()["status"]) == (200, "finished")
    if state == "queued":
        assert len(received_for(n8n, first)) == 1
    else:
        assert rdb.hgetall(f"rq:job:{first}") == kept  # untouched
        assert status(rdb, first) == state
