"""/status over the Flask test client: sign-in and its cookie, CSRF, roles, the buttons,
the security headers, and the page without Redis. (The browser test checks the drawing.)"""

from __future__ import annotations

import re
import time

import pytest
import redis
from flask.testing import FlaskClient
from support.status_scenario import replay

from sidecar.app import create_app
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.queues.overview import paused_key
from sidecar.settings import load_settings
from sidecar.status.session import COOKIE_NAME, session_key
from sidecar.worker.circuit import Circuit

TOKENS = "viewer:v-token,operator:o-token,admin:a-token"
INBOUND = "flrts:webhooks:inbound"


def make_settings(n8n: FakeN8n, redis_url: str | None, **extra):
    env = {"N8N_URL": n8n.url, "SIDECAR_ADMIN_TOKENS": TOKENS, **extra}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return load_settings(_env_file=None, **env)


@pytest.fixture
def settings(n8n: FakeN8n, redis_url: str):
    return make_settings(n8n, redis_url)


@pytest.fixture
def client(settings) -> FlaskClient:
    return create_app(settings).test_client()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def signed_in(client: FlaskClient, token: str) -> str:
    """Sign in with `token`; the CSRF token of the page behind it."""
    form = client.get("/status").get_data(as_text=True)
    answer = client.post("/status/sign-in", data={"token": token, "csrf": csrf_of(form)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/status"
    return csrf_of(client.get("/status").get_data(as_text=True))


def test_without_a_session_the_page_is_the_sign_in_form(client: FlaskClient) -> None:
    answer = client.get("/status")
    html = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert 'id="sign-in"' in html and 'id="mode-now"' not in html


def test_a_bad_token_is_refused_and_a_missing_csrf_token_too(client: FlaskClient) -> None:
    csrf = csrf_of(client.get("/status").get_data(as_text=True))

    refused = client.post("/status/sign-in", data={"token": "nope", "csrf": csrf})
    no_csrf = client.post("/status/sign-in", data={"token": "v-token"})

    assert refused.status_code == 401 and 'id="sign-in-error"' in refused.get_data(as_text=True)
    assert no_csrf.status_code == 403 and no_csrf.get_json()["error"] == "forbidden"
    assert 'id="mode-now"' not in client.get("/status").get_data(as_text=True)


def test_the_session_cookie_is_httponly_same_site_and_holds_no_plain_token(
    client: FlaskClient,
) -> None:
    csrf = csrf_of(client.get("/status").get_data(as_text=True))
    answer = client.post("/status/sign-in", data={"token": "v-token", "csrf": csrf})
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(COOKIE_NAME))

    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/status" in cookie
    assert "v-token" not in answer.headers.get("Location", "")
    page = client.get("/status").get_data(as_text=True)
    assert 'id="role">viewer<' in page and "v-token" not in page


def test_a_session_survives_a_restart_and_ends_when_its_token_is_removed(
    n8n: FakeN8n, redis_url: str, settings
) -> None:
    first = create_app(settings).test_client()
    signed_in(first, "o-token")
    cookie = first.get_cookie(COOKIE_NAME, path="/status")

    restarted = create_app(make_settings(n8n, redis_url)).test_client()
    restarted.set_cookie(COOKIE_NAME, cookie.value, path="/status")
    fewer = "viewer:v-token,admin:a-token"
    revoked = create_app(make_settings(n8n, redis_url, SIDECAR_ADMIN_TOKENS=fewer)).test_client()
    revoked.set_cookie(COOKIE_NAME, cookie.value, path="/status")

    assert 'id="role">operator<' in restarted.get("/status").get_data(as_text=True)
    assert 'id="sign-in"' in revoked.get("/status").get_data(as_text=True)


def test_the_signing_key_is_the_setting_else_derived_from_the_tokens(
    n8n: FakeN8n, redis_url: str
) -> None:
    derived = session_key(make_settings(n8n, redis_url))

    assert derived == session_key(make_settings(n8n, redis_url))
    assert derived != session_key(make_settings(n8n, redis_url, SIDECAR_ADMIN_TOKENS="admin:x"))
    assert TOKENS.encode() not in derived and len(derived) == 32
    given = make_settings(n8n, redis_url, SIDECAR_SESSION_SECRET="s3cret-key-for-sessions")
    assert session_key(given) == b"s3cret-key-for-sessions"


def test_strict_security_headers(client: FlaskClient) -> None:
    answer = client.get("/status")
    policy = answer.headers["Content-Security-Policy"]

    assert "default-src 'self'" in policy and "script-src 'none'" in policy
    assert "http" not in policy and "unsafe" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'<style nonce="{nonce}">' in answer.get_data(as_text=True)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_viewer_may_look_but_not_pause(client: FlaskClient, rdb: redis.Redis) -> None:
    csrf = signed_in(client, "v-token")

    answer = client.post(f"/status/queues/{INBOUND}/pause", data={"csrf": csrf})

    assert answer.status_code == 403 and "operator" in answer.get_json()["message"]
    assert not rdb.exists(paused_key(INBOUND))


def test_an_operator_pauses_and_resumes_only_with_the_csrf_token(
    client: FlaskClient, rdb: redis.Redis
) -> None:
    csrf = signed_in(client, "o-token")

    forged = client.post(f"/status/queues/{INBOUND}/pause", data={"csrf": "guess"})
    assert forged.status_code == 403 and not rdb.exists(paused_key(INBOUND))

    paused = client.post(f"/status/queues/{INBOUND}/pause", data={"csrf": csrf})
    assert paused.status_code == 303 and rdb.exists(paused_key(INBOUND))
    assert f"{INBOUND} paused" in client.get("/status").get_data(as_text=True)
    client.post(f"/status/queues/{INBOUND}/resume", data={"csrf": csrf})
    assert not rdb.exists(paused_key(INBOUND))
    unknown = client.post("/status/queues/nope/pause", data={"csrf": csrf})
    assert unknown.status_code == 404 and unknown.get_json()["error"]


def test_an_operator_replays_dead_letters(client: FlaskClient, rdb: redis.Redis, settings) -> None:
    replay(rdb, settings, time.time())
    csrf = signed_in(client, "o-token")
    assert 'id="dlq-total">4<' in client.get("/status").get_data(as_text=True)

    answer = client.post("/status/dlq/replay", data={"csrf": csrf})

    assert answer.status_code == 303
    page = client.get("/status").get_data(as_text=True)
    assert "4 dead letters replayed" in page and 'id="dlq-total">0<' in page


def test_only_an_admin_pins_the_mode(client: FlaskClient, settings) -> None:
    operator = signed_in(client, "o-token")
    assert client.post("/status/mode", data={"csrf": operator, "mode": "queue"}).status_code == 403

    admin = create_app(settings).test_client()
    csrf = signed_in(admin, "a-token")
    assert admin.post("/status/mode", data={"csrf": csrf, "mode": "queue"}).status_code == 303
    page = admin.get("/status").get_data(as_text=True)
    assert 'id="mode-now">queue<' in page and "pinned by status page" in page
    bad = admin.post("/status/mode", data={"csrf": csrf, "mode": "turbo"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request"
    admin.post("/status/mode", data={"csrf": csrf, "mode": "auto"})
    assert "(automatic)" in admin.get("/status").get_data(as_text=True)


def test_a_bad_range_is_a_json_400(client: FlaskClient) -> None:
    signed_in(client, "v-token")

    answer = client.get("/status?range=1y")

    assert answer.status_code == 400 and "range" in answer.get_json()["message"]


def test_without_redis_the_page_still_renders(n8n: FakeN8n) -> None:
    client = create_app(make_settings(n8n, None)).test_client()
    signed_in(client, "v-token")

    html = client.get("/status").get_data(as_text=True)

    assert 'id="mode-now">single<' in html and "no Redis configured" in html


def test_the_n8n_protection_section_shows_the_workers_circuit_and_pace(
    client: FlaskClient, rdb: redis.Redis
) -> None:
    signed_in(client, "v-token")
    html = client.get("/status").get_data(as_text=True)
    assert 'id="n8n-protection"' in html and "closed" in html

    Circuit(rdb, DEFAULT_KEYS).open("connection refused")
    html = client.get("/status").get_data(as_text=True)
    section = html[html.index('id="n8n-protection"') :]
    assert ">open<" in section and "connection refused" in section


def test_without_redis_there_is_no_n8n_protection_section(n8n: FakeN8n) -> None:
    client = create_app(make_settings(n8n, None)).test_client()
    signed_in(client, "v-token")
    assert 'id="n8n-protection"' not in client.get("/status").get_data(as_text=True)
