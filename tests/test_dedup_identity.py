"""The dedup identity of a queued webhook is method + path + id (a delivery header, the
route's dedup_key, or a hash of query and body): changing any one of them makes another
webhook; sending the same one again within the window is a duplicate. Real gateway app
(Flask test client), real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from support.queues import INBOUND

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.waiting import wait_until
from sidecar.settings import load_settings

ROUTES = """
- match: /webhook/keyed/*
  dedup_key: body.id
- match: /webhook/query-keyed/*
  dedup_key: query.id
"""

# One webhook per id source, as (method, path, query, headers, body).
SOURCES = {
    "header": ("POST", "/webhook/orders", "", {"X-Request-Id": "42"}, b"a"),
    "key": ("POST", "/webhook/keyed/orders", "", {}, b'{"id": 42}'),
    "query-key": ("POST", "/webhook/query-keyed/orders", "id=42", {}, b"a"),
    "hash": ("POST", "/webhook/orders", "n=1", {}, b"a"),
}
# What changes between the first and the second webhook: only one thing at a time.
CHANGES = {
    "method": lambda m, p, q, h, b: ("PUT", p, q, h, b),
    "path": lambda m, p, q, h, b: (m, p.replace("orders", "signup"), q, h, b),
    "query": lambda m, p, q, h, b: (m, p, q.replace("=1", "=2").replace("=42", "=43"), h, b),
}
# The query is part of the id only where the id comes from it (hash, query key).
DISTINCT = [
    (source, change)
    for source in SOURCES
    for change in CHANGES
    if change != "query" or source in ("hash", "query-key")
]


@pytest.fixture
def make_client(n8n: FakeN8n, redis_url: str, tmp_path: Path):
    (tmp_path / "routes.yml").write_text(ROUTES)

    def build(**extra: object) -> FlaskClient:
        settings = load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_MODE="queue",
            SIDECAR_ROUTES_FILE=str(tmp_path / "routes.yml"),
            **{k: str(v) for k, v in extra.items()},
        )
        return create_app(settings).test_client()

    return build


@pytest.fixture
def client(make_client) -> FlaskClient:
    return make_client()


def send(client: FlaskClient, webhook: tuple) -> tuple[int, dict]:
    method, path, query, headers, body = webhook
    target = f"{path}?{query}" if query else path  # the request line, as gunicorn gives it
    response = client.open(
        target, method=method, headers=headers, data=body, environ_overrides={"RAW_URI": target}
    )
    return response.status_code, response.get_json()


def waiting(rdb: redis.Redis) -> list[str]:
    return [raw.decode() for raw in rdb.lrange(f"rq:queue:{INBOUND}", 0, -1)]


@pytest.mark.parametrize(("source", "change"), DISTINCT)
def test_a_webhook_differing_in_one_part_is_another_webhook(
    client: FlaskClient, rdb: redis.Redis, source: str, change: str
) -> None:
    first = SOURCES[source]
    second = CHANGES[change](*first)
    assert second != first

    one, two = send(client, first), send(client, second)

    assert (one[0], two[0]) == (202, 202), (one, two)
    assert one[1]["jobId"] != two[1]["jobId"]
    assert waiting(rdb) == [one[1]["jobId"], two[1]["jobId"]]


@pytest.mark.parametrize("source", SOURCES)
def test_the_same_webhook_again_is_a_duplicate(
    client: FlaskClient, rdb: redis.Redis, source: str
) -> None:
    one, two = send(client, SOURCES[source]), send(client, SOURCES[source])

    assert one[0] == 202
    assert two == (200, {"status": "duplicate", "jobId": one[1]["jobId"]})
    assert waiting(rdb) == [one[1]["jobId"]]


def test_the_same_delivery_header_with_another_query_is_the_same_webhook(
    client: FlaskClient,
) -> None:
    method, path, _, headers, body = SOURCES["header"]
    one = send(client, (method, path, "n=1", headers, body))
    two = send(client, (method, path, "n=2", headers, body))
    assert two == (200, {"status": "duplicate", "jobId": one[1]["jobId"]})


def test_the_claim_expires_with_the_dedup_window(client: FlaskClient, rdb: redis.Redis) -> None:
    send(client, SOURCES["header"])
    (claim,) = rdb.keys("sidecar:dedup:*")
    assert 0 < rdb.ttl(claim) <= 3600  # SIDECAR_DEDUP_TTL_SECONDS' default


def test_after_the_window_a_resend_is_accepted(make_client, rdb: redis.Redis) -> None:
    client = make_client(SIDECAR_DEDUP_TTL_SECONDS=1)
    first = send(client, SOURCES["hash"])
    (claim,) = rdb.keys("sidecar:dedup:*")
    assert rdb.ttl(claim) == 1
    wait_until(lambda: not rdb.exists(claim), 10, "the claim to expire")

    again = send(client, SOURCES["hash"])

    assert again[0] == 202
    assert again[1]["jobId"] != first[1]["jobId"]


@pytest.mark.parametrize("spelling", ["/webhook/orders/", "/webhook/%6frders"])
def test_another_spelling_of_the_same_path_is_the_same_webhook(
    client: FlaskClient, spelling: str
) -> None:
    """n8n resolves both spellings to /webhook/orders, so the body resent under one of them
    is the same webhook (the default identity hashes the canonical path)."""
    method, path, query, headers, body = SOURCES["hash"]
    one = send(client, (method, path, query, headers, body))
    two = send(client, (method, spelling, query, headers, body))
    assert two == (200, {"status": "duplicate", "jobId": one[1]["jobId"]})
