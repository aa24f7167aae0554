"""Queue-mode intake through the gateway with a routes file: every guard's answer, real Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import zlib
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import load_settings

ROUTES = """
- match: /webhook/telegram/*
  queue: telegram:command
  dedup_key: body.update_id
  user_key: body.message.from.id
  rate_limit: 3/60
- match: /webhook/github
  queue: openproject:webhook
  hmac: {secret_env: GH_TEST_SECRET, header: X-Hub-Signature-256, prefix: "sha256="}
- match: /webhook/sync/*
  sync: true
- match: /webhook/tg-secret/*
  secret: {env: TG_TEST_SECRET, header: X-Telegram-Bot-Api-Secret-Token}
  dedup_key: body.update_id
"""
UPDATE = {"update_id": 1, "message": {"from": {"id": 42}, "text": "/start"}}


@pytest.fixture
def rdb(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def make_client(n8n: FakeN8n, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GH_TEST_SECRET", "gh-secret")
    monkeypatch.setenv("TG_TEST_SECRET", "tg-secret")
    (tmp_path / "routes.yml").write_text(ROUTES)

    def build(**extra: object):
        options = {"SIDECAR_MODE": "queue", **{k: str(v) for k, v in extra.items()}}
        settings = load_settings(
            _env_file=None,
            N8N_URL=n8n.url,
            REDIS_URL=redis_url,
            SIDECAR_ROUTES_FILE=str(tmp_path / "routes.yml"),
            **options,
        )
        return create_app(settings).test_client()

    return build


def telegram(client, update: dict):
    return client.post("/webhook/telegram/bot1", json=update)


def test_route_sends_to_its_queue_and_dedups_on_the_update_id(make_client, rdb) -> None:
    client = make_client()
    first = telegram(client, UPDATE)
    assert first.status_code == 202
    assert first.get_json()["queue"] == "flrts:telegram:command"
    again = telegram(client, {**UPDATE, "message": {"from": {"id": 42}, "text": "edited"}})
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "jobId": first.get_json()["jobId"]}
    assert rdb.llen("rq:queue:flrts:telegram:command") == 1
    events = [f[b"type"] for _, f in rdb.xrange("sidecar:events")]
    assert b"duplicate" in events


def test_concurrent_identical_webhooks_make_exactly_one_job(make_client, rdb) -> None:
    client, answers, start = make_client(), [], threading.Barrier(16)

    def post() -> None:
        start.wait()
        answers.append(client.post("/webhook/plain", data=b"same body").status_code)

    threads = [threading.Thread(target=post) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] * 15 + [202]
    assert rdb.llen("rq:queue:flrts:webhooks:inbound") == 1


def test_per_user_limit_answers_429_with_retry_after(make_client, rdb) -> None:
    client = make_client()
    for update_id in range(3):
        assert telegram(client, {**UPDATE, "update_id": 100 + update_id}).status_code == 202
    refused = telegram(client, {**UPDATE, "update_id": 200})
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["error"] == "rate_limited" and 55 <= body["retryAfter"] <= 60
    assert refused.headers["Retry-After"] == str(body["retryAfter"])
    other_user = {**UPDATE, "update_id": 201, "message": {"from": {"id": 7}}}
    assert telegram(client, other_user).status_code == 202
    # the refused update was not remembered as seen: once allowed, it is accepted
    assert len(rdb.keys("sidecar:dedup:*")) == 4  # the four accepted updates only
    let_the_window_pass(rdb)
    retried = telegram(client, {**UPDATE, "update_id": 200})
    assert retried.status_code == 202, retried.get_json()
    assert rdb.llen("rq:queue:flrts:telegram:command") == 5  # 3 + the other user's + retry


def let_the_window_pass(rdb: redis.Redis) -> None:
    """What a window's wait does to the limiter: each user's admission list expires a
    window after its last admission (sidecar/guards/ratelimit.py)."""
    windows = list(rdb.scan_iter(match="sidecar:ratelimit:*"))
    assert windows, "no rate-limit window in Redis: update this helper"
    rdb.delete(*windows)


def test_default_user_header_and_settings_limit(make_client) -> None:
    client = make_client(SIDECAR_USER_RATE_LIMIT=2, SIDECAR_USER_RATE_WINDOW_SECONDS=60)
    statuses = [
        client.post("/webhook/x", data=str(i).encode(), headers={"X-User-Id": "u"}).status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]
    assert client.post("/webhook/x", data=b"no user").status_code == 202  # not limited per user


def sign(body: bytes, secret: bytes = b"gh-secret") -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signature", [None, "sha256=00", "garbage", sign(b"other body")])
def test_bad_or_missing_signature_is_401_and_nothing_is_stored(make_client, rdb, signature) -> None:
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    response = make_client().post("/webhook/github", data=b'{"action":"opened"}', headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "bad_signature"
    assert rdb.llen("rq:queue:flrts:openproject:webhook") == 0


def test_good_signature_is_queued(make_client, rdb) -> None:
    body = b'{"action":"opened"}'
    response = make_client().post(
        "/webhook/github", data=body, headers={"X-Hub-Signature-256": sign(body)}
    )
    assert response.status_code == 202
    assert rdb.llen("rq:queue:flrts:openproject:webhook") == 1


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.parametrize("mode", ["queue", "single"])
@pytest.mark.parametrize("given", [None, "", "tg-secre", "tg-secret2"])
def test_missing_or_wrong_shared_secret_is_401_and_nothing_is_stored_or_sent(
    make_client, rdb, n8n: FakeN8n, mode: str, given: str | None
) -> None:
    headers = {SECRET_HEADER: given} if given is not None else {}
    client = make_client(SIDECAR_MODE=mode)

    response = client.post("/webhook/tg-secret/bot1", json=UPDATE, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == "bad_signature"
    assert rdb.llen("rq:queue:flrts:webhooks:inbound") == 0
    assert [r.path for r in n8n.received if r.path.startswith("/webhook/")] == []


def test_right_shared_secret_is_queued(make_client, rdb) -> None:
    response = make_client().post(
        "/webhook/tg-secret/bot1", json=UPDATE, headers={SECRET_HEADER: "tg-secret"}
    )
    assert response.status_code == 202
    assert rdb.llen("rq:queue:flrts:webhooks:inbound") == 1


def test_sync_route_passes_through_in_queue_mode(make_client, n8n: FakeN8n, rdb) -> None:
    response = make_client().post("/webhook/sync/echo", data=b"now")
    assert response.status_code == 404  # n8n's own answer: this fake has no such webhook
    assert response.headers["X-Sidecar-Mode"] == "queue"
    assert n8n.wait_for(1)[0].path == "/webhook/sync/echo"
    assert rdb.llen("rq:queue:flrts:webhooks:inbound") == 0


@pytest.mark.parametrize("path", ["/webhook/sync/echo/", "/webhook/%73ync/echo"])
def test_sync_route_holds_however_the_path_is_spelled(make_client, n8n: FakeN8n, rdb, path) -> None:
    response = make_client().post(path, data=b"now")
    assert response.status_code == 404  # n8n's own answer, not a 202
    assert n8n.wait_for(1)[0].path == path  # forwarded as sent
    assert rdb.llen("rq:queue:flrts:webhooks:inbound") == 0


@pytest.mark.parametrize("path", ["/webhook/telegram/bot1/", "/webhook/%74elegram/bot1"])
def test_queue_dedup_and_limit_rules_hold_however_the_path_is_spelled(make_client, rdb, path):
    client = make_client()
    answers = [client.post(path, json={**UPDATE, "update_id": n}) for n in (1, 1, 2, 3, 4)]
    assert [a.status_code for a in answers] == [202, 200, 202, 202, 429]
    assert answers[0].get_json()["queue"] == "flrts:telegram:command"
    assert rdb.llen("rq:queue:flrts:telegram:command") == 3


def test_bad_path_is_refused_before_anything_is_stored(make_client, n8n: FakeN8n, rdb) -> None:
    response = make_client().post("/webhook/telegram%2Fbot1", json=UPDATE)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_path"
    assert rdb.keys("rq:job:*") == [] and n8n.received == []


def test_payloads_are_encrypted_at_rest(make_client, rdb) -> None:
    client = make_client(SIDECAR_ENCRYPTION_KEY=Fernet.generate_key().decode())
    secret = "card 4111-1111 and token s3cr3t-t0ken"
    response = client.post(
        "/webhook/payments",
        data=json.dumps({"note": secret}),
        headers={"Authorization": "Bearer sender-token"},
    )
    assert response.status_code == 202
    dump = b"".join(value for key in rdb.keys("rq:job:*") for value in rdb.hgetall(key).values())
    data = zlib.decompress(rdb.hget(f"rq:job:{response.get_json()['jobId']}", "data"))
    for plaintext in (b"s3cr3t-t0ken", b"sender-token", b"/webhook/payments"):
        assert plaintext not in dump and plaintext not in data
    assert b"sealed" in data
