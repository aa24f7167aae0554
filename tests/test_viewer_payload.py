"""What a viewer sees of a captured request (sidecar.http.viewer_payload.py)."""

from __future__ import annotations

import pytest

from sidecar.http.viewer_payload import REDACTED, for_viewer, is_sensitive


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-Hub-Signature-256",
        "X-Telegram-Bot-Api-Secret-Token",
        "X-Api-Key",
        "X-Auth-User",
        "Secret",
    ],
)
def test_sensitive_names(name: str) -> None:
    assert is_sensitive(name)


@pytest.mark.parametrize("name", ["Content-Type", "User-Agent", "X-Request-Id", "X-Forwarded-For"])
def test_ordinary_names(name: str) -> None:
    assert not is_sensitive(name)


def test_route_signature_headers_are_sensitive_whatever_their_name() -> None:
    assert is_sensitive("X-Shop-Hmac", frozenset({"x-shop-hmac"}))
    shown = for_viewer({"headers": [["X-Shop-Hmac", "abc"]]}, ["X-SHOP-HMAC"])
    assert shown["headers"] == [["X-Shop-Hmac", REDACTED]]


def test_a_viewer_gets_no_body_nor_typed_data() -> None:
    captured = {
        "method": "POST",
        "path": "/webhook/x",
        "query": "token=abc&a=1&flag",
        "headers": [["Authorization", "Bearer t"], ["Accept", "*/*"]],
        "body": "c2VjcmV0",
        "receivedAt": 1.5,
    }
    assert for_viewer(captured) == {
        "method": "POST",
        "path": "/webhook/x",
        "query": f"token={REDACTED}&a=1&flag",
        "headers": [["Authorization", REDACTED], ["Accept", "*/*"]],
        "receivedAt": 1.5,
    }
    assert for_viewer({"operation": "tasks:create", "data": {"x": 1}}) == {
        "operation": "tasks:create"
    }


def test_a_routes_shared_secret_header_is_sensitive_whatever_its_name() -> None:
    shown = for_viewer({"headers": [["X-Gitlab-Thing", "s3cr3t"]]}, ["x-gitlab-thing"])
    assert shown["headers"] == [["X-Gitlab-Thing", REDACTED]]
