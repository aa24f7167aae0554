"""GET /openapi.json: a valid document that covers every route, and real answers match it."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from support.dead_letters import make_dead_letters

from sidecar.app import create_app
from sidecar.backend.connection import connect
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.events import add_event
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import load_settings
from sidecar.typed.models import MODELS

AUTH = {"Authorization": "Bearer a"}


@pytest.fixture
def settings(n8n: FakeN8n, redis_url: str):
    return load_settings(
        _env_file=None,
        N8N_URL=n8n.url,
        REDIS_URL=redis_url,
        SIDECAR_MODE="queue",
        SIDECAR_ADMIN_TOKENS="admin:a",
        SIDECAR_JOB_ATTEMPTS=1,
    )


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def spec(app) -> dict:
    return app.test_client().get("/openapi.json").get_json()


def test_document_is_valid_openapi(spec: dict) -> None:
    validate(spec)


def test_every_route_of_the_app_is_described(app, spec: dict) -> None:
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    described = {re.sub(r"{\w+}", "{x}", path) for path in spec["paths"]}
    missing = {r for r in routes if re.sub(r"{\w+}", "{x}", r) not in described}
    assert not missing
    for prefix in ("webhook", "webhook-test", "form", "mcp"):
        assert f"/{prefix}/{{path}}" in spec["paths"]


def check(spec: dict, path: str, method: str, response) -> None:
    """The real response's status is documented and its JSON body matches the schema."""
    operation = spec["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method.upper()} {path} answered {response.status_code}, not documented"
    schema = documented["content"]["application/json"]["schema"]
    Draft202012Validator({**spec, **schema}).validate(response.get_json())


def test_real_answers_match_the_document(app, settings, spec: dict) -> None:
    client = app.test_client()
    entry_job = make_dead_letters(client, settings)[0]
    add_event(connect(settings), DEFAULT_KEYS, "completed", {"jobId": entry_job})
    entry = client.get("/v1/dlq", headers=AUTH).get_json()["items"][0]["id"]
    calls = [
        ("/healthz", "get", "/healthz", {}),
        ("/readyz", "get", "/readyz", {}),
        ("/v1/queues", "get", "/v1/queues", {}),
        ("/v1/queues/{queue}/pause", "post", "/v1/queues/tasks:create/pause", {}),
        ("/v1/jobs/{id}", "get", f"/v1/jobs/{entry_job}", {}),
        ("/v1/jobs/{id}", "get", "/v1/jobs/unknown", {}),
        ("/v1/dlq", "get", "/v1/dlq", {}),
        ("/v1/dlq", "get", "/v1/dlq?limit=0", {}),
        ("/v1/dlq/{id}", "get", f"/v1/dlq/{entry}", {}),
        ("/v1/events", "get", "/v1/events", {}),
        ("/v1/mode", "get", "/v1/mode", {}),
        ("/v1/metrics/queues", "get", "/v1/metrics/queues", {}),
        ("/v1/dlq/{id}/replay", "post", f"/v1/dlq/{entry}/replay", {}),
        ("/v1/dlq/replay", "post", "/v1/dlq/replay", {}),
        ("/v1/dlq/{id}", "delete", "/v1/dlq/nope", {}),
    ]
    for path, method, url, _ in calls:
        check(spec, path, method, client.open(url, method=method.upper(), headers=AUTH))
    check(spec, "/v1/queues", "get", client.get("/v1/queues"))  # 401
    task = {"userId": "42", "title": "Fix the pump"}
    check(
        spec, "/v1/jobs/{id}", "post", client.post("/v1/jobs/tasks:create", json=task, headers=AUTH)
    )
    check(
        spec, "/v1/jobs/{id}", "post", client.post("/v1/jobs/tasks:create", json={}, headers=AUTH)
    )
    queued = client.post("/webhook/anything", data=b"x")
    check(spec, "/webhook/{path}", "post", queued)
    bad_path = client.post("/webhook/a/%2e%2e/b", data=b"x")
    assert bad_path.status_code == 400
    check(spec, "/webhook/{path}", "post", bad_path)


def test_each_typed_queue_has_its_own_body_schema(spec: dict) -> None:
    for operation in MODELS:
        post = spec["paths"][f"/v1/jobs/{operation}"]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("Job_" + operation.replace(":", "_"))
        assert post["x-sidecar-role"] == "operator"
        assert {"Idempotency-Key", "X-Idempotency-Key"} <= {p["name"] for p in post["parameters"]}
