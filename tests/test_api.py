"""Management API against real Redis: roles, queues, jobs and dead letters."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient
from support.dead_letters import INBOUND, deliver_all, make_dead_letters

from sidecar.app import create_app
from sidecar.backend.connection import connect
from sidecar.backend.queue_names import all_queues
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.settings import load_settings

TOKENS = "viewer:v-token,operator:o-token,admin:a-token"
ROLE_TOKEN = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}


@pytest.fixture
def settings(n8n: FakeN8n, redis_url: str):
    return load_settings(
        _env_file=None,
        N8N_URL=n8n.url,
        REDIS_URL=redis_url,
        SIDECAR_MODE="queue",
        SIDECAR_ADMIN_TOKENS=TOKENS,
        SIDECAR_JOB_ATTEMPTS=1,
    )


@pytest.fixture
def client(settings) -> FlaskClient:
    return create_app(settings).test_client()


@pytest.fixture
def rdb(settings) -> redis.Redis:
    return connect(settings)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ROLE_TOKEN[role]}"}


ENDPOINTS = [
    ("GET", "/v1/queues", "viewer"),
    ("GET", "/v1/jobs/abc", "viewer"),
    ("GET", "/v1/dlq", "viewer"),
    ("GET", "/v1/dlq/abc", "viewer"),
    ("POST", "/v1/queues/webhooks:inbound/pause", "operator"),
    ("POST", "/v1/queues/webhooks:inbound/resume", "operator"),
    ("POST", "/v1/dlq/abc/replay", "operator"),
    ("POST", "/v1/dlq/replay", "operator"),
    ("DELETE", "/v1/dlq/abc", "admin"),
]


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS)
def test_every_endpoint_refuses_without_a_token(client: FlaskClient, method, path, needed) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.open(path, method=method, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS)
def test_every_endpoint_checks_the_role(client: FlaskClient, method, path, needed) -> None:
    ranks = ["viewer", "operator", "admin"]
    for role in ranks:
        response = client.open(path, method=method, headers=auth(role))
        if ranks.index(role) < ranks.index(needed):
            assert response.status_code == 403, (role, response.get_json())
            assert response.get_json()["error"] == "forbidden"
        else:  # allowed: whatever the answer, it is not an auth refusal
            assert response.status_code not in (401, 403), (role, response.get_json())


def test_without_configured_tokens_the_api_is_closed(n8n: FakeN8n, redis_url: str) -> None:
    app = create_app(load_settings(_env_file=None, N8N_URL=n8n.url, REDIS_URL=redis_url))
    response = app.test_client().get("/v1/queues", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert "SIDECAR_ADMIN_TOKENS" in response.get_json()["message"]
    assert app.test_client().get("/healthz").status_code == 200


def test_queues_list_counts_every_queue(client, settings, n8n: FakeN8n) -> None:
    n8n.script("/webhook/ok", [Reply(200)])
    client.post("/webhook/ok", data=b"1")
    client.post("/webhook/ok", data=b"2")
    body = client.get("/v1/queues", headers=auth("viewer")).get_json()
    rows = {row["name"]: row for row in body["queues"]}
    assert set(rows) == set(all_queues("flrts"))
    assert rows[INBOUND]["waiting"] == 2
    deliver_all(settings)
    rows = {
        r["name"]: r for r in client.get("/v1/queues", headers=auth("viewer")).get_json()["queues"]
    }
    assert (rows[INBOUND]["waiting"], rows[INBOUND]["completed"], rows[INBOUND]["active"]) == (
        0,
        2,
        0,
    )


def test_pause_and_resume_flag_the_queue(client, rdb) -> None:
    response = client.post("/v1/queues/webhooks:inbound/pause", headers=auth("operator"))
    assert response.get_json() == {"queue": INBOUND, "paused": True}
    rows = {
        r["name"]: r for r in client.get("/v1/queues", headers=auth("viewer")).get_json()["queues"]
    }
    assert rows[INBOUND]["paused"] is True
    client.post(f"/v1/queues/{INBOUND}/resume", headers=auth("operator"))
    rows = {
        r["name"]: r for r in client.get("/v1/queues", headers=auth("viewer")).get_json()["queues"]
    }
    assert rows[INBOUND]["paused"] is False


def test_unknown_queue_is_404_json(client) -> None:
    response = client.post("/v1/queues/nope:nope/pause", headers=auth("operator"))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_job_view_follows_a_job_to_completion(client, settings, n8n: FakeN8n) -> None:
    n8n.script("/webhook/ok", [Reply(201)])
    job_id = client.post("/webhook/ok", data=b"x").get_json()["jobId"]
    assert client.get(f"/v1/jobs/{job_id}", headers=auth("viewer")).get_json()["status"] == "queued"
    deliver_all(settings)
    view = client.get(f"/v1/jobs/{job_id}", headers=auth("viewer")).get_json()
    assert (view["status"], view["attempts"], view["result"]) == ("finished", 1, {"n8nStatus": 201})
    assert view["queue"] == INBOUND


@pytest.mark.parametrize("job_id", ["nope", "../etc", "a b", "x" * 300])
def test_unknown_or_malformed_job_id_is_404(client, job_id: str) -> None:
    response = client.get(f"/v1/jobs/{job_id}", headers=auth("viewer"))
    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "message"}


def test_dead_letters_list_show_and_filter(client, settings, n8n: FakeN8n) -> None:
    job_ids = make_dead_letters(client, settings, count=3)
    listing = client.get("/v1/dlq?limit=2", headers=auth("viewer")).get_json()
    assert (listing["total"], len(listing["items"])) == (3, 2)
    item = listing["items"][0]
    assert item["jobId"] in job_ids
    assert item["queue"] == INBOUND and item["attempts"] == 1 and "404" in item["error"]
    assert "data" not in item
    shown = client.get(f"/v1/dlq/{item['id']}", headers=auth("viewer")).get_json()
    assert shown["data"]["path"] == f"/webhook/gone-{job_ids.index(item['jobId'])}"
    other = client.get("/v1/dlq?queue=tasks:create", headers=auth("viewer")).get_json()
    assert other["total"] == 0


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=abc", "offset=-1", "limit=100000", "queue=zzz"]
)
def test_bad_dlq_filters_are_clear_4xx(client, query: str) -> None:
    response = client.get(f"/v1/dlq?{query}", headers=auth("viewer"))
    assert response.status_code in (400, 404)
    assert set(response.get_json()) == {"error", "message"}


def test_replay_puts_the_job_back_with_its_id_and_fresh_attempts(
    client, settings, n8n, rdb
) -> None:
    (job_id,) = make_dead_letters(client, settings)
    entry_id = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"][0]["id"]
    n8n.script("/webhook/gone-0", [Reply(200)])
    response = client.post(f"/v1/dlq/{entry_id}/replay", headers=auth("operator"))
    assert response.get_json() == {"status": "replayed", "jobId": job_id, "queue": INBOUND}
    assert client.get("/v1/dlq", headers=auth("viewer")).get_json()["total"] == 0
    view = client.get(f"/v1/jobs/{job_id}", headers=auth("viewer")).get_json()
    assert (view["status"], view["attempts"], view["replayedFrom"]) == ("queued", 0, entry_id)
    deliver_all(settings)
    view = client.get(f"/v1/jobs/{job_id}", headers=auth("viewer")).get_json()
    assert (view["status"], view["attempts"]) == ("finished", 1)
    ids = [r.header("X-Sidecar-Job-Id") for r in n8n.received if r.path == "/webhook/gone-0"]
    assert ids == [job_id, job_id]  # same id, so the same Idempotency-Key, on both deliveries


def test_replay_never_duplicates_a_waiting_job(client, settings, n8n, rdb) -> None:
    make_dead_letters(client, settings)
    entry_id = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"][0]["id"]
    first = rdb.dump(f"rq:job:{entry_id}")
    client.post(f"/v1/dlq/{entry_id}/replay", headers=auth("operator"))
    # the same entry again (e.g. restored from a backup) while the job is waiting: refused
    rdb.restore(f"rq:job:{entry_id}", 0, first)
    rdb.rpush("rq:queue:flrts:dead-letter", entry_id)
    again = client.post(f"/v1/dlq/{entry_id}/replay", headers=auth("operator"))
    assert again.status_code == 409
    assert rdb.llen(f"rq:queue:{INBOUND}") == 1


def test_bulk_replay_and_delete(client, settings, n8n) -> None:
    make_dead_letters(client, settings, count=3)
    items = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"]
    deleted = client.delete(f"/v1/dlq/{items[0]['id']}", headers=auth("admin"))
    assert deleted.get_json() == {"status": "deleted", "id": items[0]["id"]}
    response = client.post(
        "/v1/dlq/replay", json={"queue": "webhooks:inbound"}, headers=auth("operator")
    )
    assert response.get_json() == {"replayed": 2, "skipped": 0}
    assert client.get("/v1/dlq", headers=auth("viewer")).get_json()["total"] == 0
    assert client.delete(f"/v1/dlq/{items[0]['id']}", headers=auth("admin")).status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b'"text"'])
def test_bulk_replay_rejects_malformed_bodies(client, body: bytes) -> None:
    response = client.post(
        "/v1/dlq/replay",
        data=body,
        headers={**auth("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_api_without_redis_is_503_json(n8n: FakeN8n) -> None:
    app = create_app(load_settings(_env_file=None, N8N_URL=n8n.url, SIDECAR_ADMIN_TOKENS=TOKENS))
    response = app.test_client().get("/v1/queues", headers=auth("viewer"))
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
