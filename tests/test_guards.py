"""Guards: request keys, signature, the dedup identity. The claim and the per-user rate
limit are part of ingest.lua: tests/test_ingest_script.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from sidecar.capture import CapturedRequest
from sidecar.errors import BadSignature
from sidecar.guards.dedup import dedup_id, job_id_for, sender_id
from sidecar.guards.keys import extract
from sidecar.guards.signature import expected_signature, verify_secret, verify_signature
from sidecar.routes import HmacRule, SecretRule

UPDATE = {"update_id": 987, "message": {"from": {"id": 42, "is_bot": False}, "text": "hi"}}


def request(body: object = UPDATE, headers: list | None = None, query: str = "") -> CapturedRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return CapturedRequest("POST", "/webhook/tg", query, headers or [], raw)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("body.update_id", "987"),
        ("body.message.from.id", "42"),
        ("body.message.from.is_bot", "false"),
        ("body.message", None),
        ("body.nope.deeper", None),
        ("query.chat", "7"),
        ("query.x", ""),  # present but blank: "", not absent
        ("query.missing", None),
        ("X-User-Id", "u-1"),
        ("X-Missing", None),
    ],
)
def test_extract_reads_headers_json_paths_and_query(spec: str, expected: str | None) -> None:
    captured = request(headers=[("X-User-Id", "u-1")], query="chat=7&x=")
    assert extract(captured, spec) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("body.items.0.id", "AbC"),  # a list step by index; text keeps its case
        ("body.items.1", "2"),
        ("body.items.2", None),  # past the end
        ("body.items.id", None),  # a name is no index into a list
        ("body.flag", "true"),
    ],
)
def test_extract_walks_lists_by_index(spec: str, expected: str | None) -> None:
    captured = request(body={"items": [{"id": "AbC"}, 2], "flag": True})
    assert extract(captured, spec) == expected


def test_extract_tolerates_non_json_bodies() -> None:
    assert extract(request(body=b"\xff\x00 not json"), "body.id") is None


# --- signature ---------------------------------------------------------------------------

RULE = HmacRule(secret_env="HOOK_SECRET", header="X-Hub-Signature-256", prefix="sha256=")


def test_good_signature_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    body = b'{"action":"opened"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    verify_signature(request(body=body, headers=[("X-Hub-Signature-256", good)]), RULE)


def test_base64_sha1_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    rule = HmacRule(secret_env="HOOK_SECRET", header="X-Sig", algorithm="sha1", encoding="base64")
    good = base64.b64encode(hmac.new(b"k", b"data", hashlib.sha1).digest()).decode()
    assert expected_signature(rule, b"data", "k") == good
    verify_signature(request(body=b"data", headers=[("X-Sig", good)]), rule)


@pytest.mark.parametrize(
    "headers",
    [[], [("X-Hub-Signature-256", "sha256=deadbeef")], [("X-Hub-Signature-256", "garbage \u00ff")]],
)
def test_missing_or_wrong_signature_is_401(monkeypatch: pytest.MonkeyPatch, headers: list) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    with pytest.raises(BadSignature) as caught:
        verify_signature(request(headers=headers), RULE)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("headers", "names"),
    [
        ([], "missing signature header X-Hub-Signature-256"),
        ([("X-Hub-Signature-256", "sha256=00")], "signature in X-Hub-Signature-256 does not"),
    ],
)
def test_a_refused_signature_names_its_header(
    monkeypatch: pytest.MonkeyPatch, headers: list, names: str
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    with pytest.raises(BadSignature) as caught:
        verify_signature(request(headers=headers), RULE)
    assert names in caught.value.message


@pytest.mark.parametrize("guess", ["", "XXXX", "None", "secret"])
def test_without_a_configured_secret_no_signature_passes(
    monkeypatch: pytest.MonkeyPatch, guess: str
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    signed = expected_signature(RULE, b"data", guess)  # whatever key a sender guesses
    with pytest.raises(BadSignature):
        verify_signature(request(body=b"data", headers=[("X-Hub-Signature-256", signed)]), RULE)


SECRET = SecretRule(env="TG_TOKEN", header="X-Telegram-Bot-Api-Secret-Token")


@pytest.mark.parametrize(
    ("headers", "names"),
    [
        ([], "missing secret header X-Telegram-Bot-Api-Secret-Token"),
        ([("X-Telegram-Bot-Api-Secret-Token", "no")], "secret in X-Telegram-Bot-Api-Secret-Token"),
    ],
)
def test_a_refused_secret_names_its_header(
    monkeypatch: pytest.MonkeyPatch, headers: list, names: str
) -> None:
    monkeypatch.setenv("TG_TOKEN", "tg-s3cret")
    with pytest.raises(BadSignature) as caught:
        verify_secret(request(headers=headers), SECRET)
    assert names in caught.value.message


@pytest.mark.parametrize("guess", ["XXXX", "None", "secret"])
def test_without_a_configured_secret_no_shared_secret_passes(
    monkeypatch: pytest.MonkeyPatch, guess: str
) -> None:
    monkeypatch.delenv("TG_TOKEN", raising=False)
    with pytest.raises(BadSignature):
        verify_secret(request(headers=[("X-Telegram-Bot-Api-Secret-Token", guess)]), SECRET)


def test_right_shared_secret_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_TOKEN", "tg-s3cret")
    verify_secret(request(headers=[("X-Telegram-Bot-Api-Secret-Token", "tg-s3cret")]), SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("X-Telegram-Bot-Api-Secret-Token", "")],
        [("X-Telegram-Bot-Api-Secret-Token", "tg-s3cre")],
        [("X-Telegram-Bot-Api-Secret-Token", "tg-s3cret ")],
        [("X-Telegram-Bot-Api-Secret-Token", "t\u00ffg")],
        [("X-Other", "tg-s3cret")],
    ],
)
def test_missing_or_wrong_shared_secret_is_401(
    monkeypatch: pytest.MonkeyPatch, headers: list
) -> None:
    monkeypatch.setenv("TG_TOKEN", "tg-s3cret")
    with pytest.raises(BadSignature) as caught:
        verify_secret(request(headers=headers), SECRET)
    assert (caught.value.status, caught.value.code) == (401, "bad_signature")


# --- dedup -------------------------------------------------------------------------------
# Identity only (pure functions). Claims are taken by ingest.lua: tests/test_ingest_script.py,
# tests/test_dedup_identity.py; concurrency: tests/test_guarded_intake.py, test_jobs_api.py.


@pytest.mark.parametrize(
    ("headers", "key", "expected"),
    [
        ([], "body.update_id", "key:987"),
        ([("Idempotency-Key", "abc")], None, "header:abc"),
        ([("X-GitHub-Delivery", "gh-1")], None, "header:gh-1"),
        ([("x-github-delivery", "gh-2"), ("X-GitHub-Delivery", "gh-3")], None, "header:gh-2"),
        ([("X-Request-Id", ""), ("Svix-Id", "svix-1")], None, "header:svix-1"),
        ([("Stripe-Signature", "t=1")], None, None),  # body has no "id": falls back to the hash
    ],
)
def test_sender_id_sources(headers: list, key: str | None, expected: str | None) -> None:
    found = sender_id(request(headers=headers), key)
    assert found == expected if expected else found.startswith("sha256:")


def test_stripe_event_id_from_body() -> None:
    captured = request(body={"id": "evt_1", "type": "x"}, headers=[("Stripe-Signature", "t=1")])
    assert sender_id(captured, None) == "stripe:evt_1"


def test_hash_covers_query_and_body() -> None:
    one, two = sender_id(request(body=b"a"), None), sender_id(request(body=b"b"), None)
    assert one != two and one == sender_id(request(body=b"a"), None)
    assert sender_id(request(body=b"a", query="n=1"), None) != one


def test_the_hash_is_the_one_every_gateway_version_computes() -> None:
    # claims outlive a deploy: a changed hash would let a resend during an upgrade through
    expected = hashlib.sha256(b"n=1\nhello").hexdigest()
    assert sender_id(request(body=b"hello", query="n=1"), None) == f"sha256:{expected}"


def test_follow_up_job_ids_are_stable_per_queue_and_identity() -> None:
    one = job_id_for("q1", "follow-up:7")
    assert one == hashlib.sha256(b"q1\nfollow-up:7").hexdigest()[:32]
    assert one != job_id_for("q2", "follow-up:7") and one != job_id_for("q1", "follow-up:8")


def test_identity_is_method_path_and_id() -> None:
    captured = request(headers=[("X-Request-Id", "42")])
    assert dedup_id(captured, None) == "POST\n/webhook/tg\nheader:42"
