"""Who sees what of a dead letter, what is sealed at rest, and which ids find one."""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from support.dead_letters import deliver_all, make_dead_letters

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import Settings, load_settings

TOKENS = "viewer:v-token,operator:o-token,admin:a-token"
ROLE_TOKEN = {"viewer": "v-token", "operator": "o-token", "admin": "a-token"}
ROUTES = """
- match: /webhook/signed
  hmac: {secret_env: DLQ_TEST_SECRET, header: X-Shop-Hmac, prefix: "sha256="}
- match: /webhook/shared
  secret: {env: DLQ_TEST_SECRET, header: X-Shared-Word}
"""
BODY = b'{"order": 7, "card": "4111"}'


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ROLE_TOKEN[role]}"}


@pytest.fixture
def make_settings(n8n: FakeN8n, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLQ_TEST_SECRET", "shop-secret")
    (tmp_path / "routes.yml").write_text(ROUTES)

    def build(**extra: object) -> Settings:
        return load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_MODE="queue",
            SIDECAR_ADMIN_TOKENS=TOKENS,
            SIDECAR_JOB_ATTEMPTS=1,
            SIDECAR_ROUTES_FILE=str(tmp_path / "routes.yml"),
            **{k: str(v) for k, v in extra.items()},
        )

    return build


def signed_dead_letter(client: FlaskClient, settings: Settings) -> str:
    """A signed webhook with secrets in its headers and query, dead-lettered (n8n: 404)."""
    signature = "sha256=" + hmac.new(b"shop-secret", BODY, hashlib.sha256).hexdigest()
    headers = {
        "Authorization": "Bearer sender-secret",
        "X-Shop-Hmac": signature,
        "X-Api-Key": "key-secret",
        "X-Request-Source": "shop",
        "Content-Type": "application/json",
    }
    client.set_cookie("session", "cookie-secret")
    target = "/webhook/signed?api_token=query-secret&page=2"
    response = client.post(target, data=BODY, headers=headers)
    client.delete_cookie("session")
    assert response.status_code == 202, response.get_json()
    deliver_all(settings)
    return response.get_json()["jobId"]


def shown(client: FlaskClient, role: str, given: str) -> dict:
    response = client.get(f"/v1/dlq/{given}", headers=auth(role))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_viewers_see_no_body_and_no_secrets(make_settings) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    signed_dead_letter(client, settings)
    (item,) = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"]

    entry = shown(client, "viewer", item["id"])
    headers = {name.lower(): value for name, value in entry["data"]["headers"]}
    text = json.dumps(entry)
    for secret in ("sender-secret", "cookie-secret", "key-secret", "query-secret", "4111"):
        assert secret not in text
    assert "sha256=" not in text
    assert headers["authorization"] == headers["cookie"] == "[redacted]"
    assert headers["x-shop-hmac"] == headers["x-api-key"] == "[redacted]"
    assert headers["x-request-source"] == "shop"
    assert "body" not in entry["data"] and entry["redacted"] is True
    assert entry["data"]["path"] == "/webhook/signed"
    assert entry["data"]["query"] == "api_token=[redacted]&page=2"


def test_viewers_do_not_see_a_routes_shared_secret_header(make_settings) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    headers = {"X-Shared-Word": "shop-secret"}
    response = client.post("/webhook/shared", data=BODY, headers=headers)
    assert response.status_code == 202, response.get_json()
    deliver_all(settings)

    entry = shown(client, "viewer", response.get_json()["jobId"])

    assert "shop-secret" not in json.dumps(entry)
    assert ["X-Shared-Word", "[redacted]"] in entry["data"]["headers"]


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operators_and_admins_see_everything(make_settings, role: str) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    signed_dead_letter(client, settings)
    (item,) = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"]

    entry = shown(client, role, item["id"])
    headers = {name.lower(): value for name, value in entry["data"]["headers"]}
    assert headers["authorization"] == "Bearer sender-secret"
    assert headers["x-shop-hmac"].startswith("sha256=")
    assert entry["data"]["body"] and entry["redacted"] is False
    assert entry["data"]["query"] == "api_token=query-secret&page=2"


def test_the_error_text_is_sealed_at_rest(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings(SIDECAR_ENCRYPTION_KEY=Fernet.generate_key().decode())
    client = create_app(settings).test_client()
    make_dead_letters(client, settings)
    (entry_id,) = [i.decode() for i in rdb.lrange("rq:queue:flrts:dead-letter", 0, -1)]

    stored = rdb.hgetall(f"rq:job:{entry_id}")
    at_rest = zlib.decompress(stored[b"data"]) + b"".join(
        value for key, value in stored.items() if key != b"data"
    )
    assert b"not registered" not in at_rest and b"404" not in at_rest
    listed = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"][0]
    assert "is not registered" in listed["error"]
    assert "is not registered" in shown(client, "admin", entry_id)["error"]


def test_the_failed_job_and_its_event_keep_no_answer_body_in_clear(
    make_settings, rdb: redis.Redis
) -> None:
    settings = make_settings(SIDECAR_ENCRYPTION_KEY=Fernet.generate_key().decode())
    client = create_app(settings).test_client()
    (job_id,) = make_dead_letters(client, settings)

    kept = rdb.hgetall(f"rq:job:{job_id}")
    at_rest = zlib.decompress(kept[b"exc_info"]) + kept[b"sidecar_error"]
    events = b"".join(v for _, fields in rdb.xrange("sidecar:events") for v in fields.values())
    assert kept[b"sidecar_error"] == b"n8n answered HTTP 404"
    assert b"not registered" not in at_rest and b"not registered" not in events
    viewed = client.get(f"/v1/jobs/{job_id}", headers=auth("viewer")).get_json()
    assert viewed["error"] == "n8n answered HTTP 404"
    assert "is not registered" in shown(client, "admin", job_id)["error"]  # sealed, opened


def test_a_live_jobs_id_is_not_a_dead_letter(make_settings) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    live = client.post("/webhook/waiting", data=b"x").get_json()["jobId"]  # no worker: queued

    answers = [
        client.get(f"/v1/dlq/{live}", headers=auth("viewer")),
        client.post(f"/v1/dlq/{live}/replay", headers=auth("operator")),
        client.delete(f"/v1/dlq/{live}", headers=auth("admin")),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.get_json()["error"] == "not_found"
        assert live in answer.get_json()["message"]


def test_the_original_job_id_finds_the_entry(make_settings, rdb: redis.Redis) -> None:
    settings = make_settings()
    client = create_app(settings).test_client()
    first, second = make_dead_letters(client, settings, count=2)
    items = client.get("/v1/dlq", headers=auth("viewer")).get_json()["items"]
    entry_of = {item["jobId"]: item["id"] for item in items}

    assert shown(client, "viewer", first)["id"] == entry_of[first]
    deleted = client.delete(f"/v1/dlq/{first}", headers=auth("admin"))
    assert deleted.get_json() == {"status": "deleted", "id": entry_of[first]}
    assert not rdb.exists(f"sidecar:dlq:job:{first}")
    replayed = client.post(f"/v1/dlq/{second}/replay", headers=auth("operator"))
    assert replayed.get_json()["jobId"] == second
    assert client.get(f"/v1/dlq/{second}", headers=auth("viewer")).status_code == 404
    assert client.get("/v1/dlq", headers=auth("viewer")).get_json()["total"] == 0
