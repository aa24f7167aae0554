"""The one redaction helper: URL passwords, secret-looking query values, known secrets."""

from __future__ import annotations

import pytest

from sidecar.redact import redact, redact_url, url_secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("got 'http://:Sup3rSecretPw@redis:6379/0'", "got 'http://:***@redis:6379/0'"),
        ("redis://default:p@ss/w0rd@redis:6379", "redis://default:***@redis:6379"),
        ("at https://u:pw@n8n:5678/x and more", "at https://u:***@n8n:5678/x and more"),
        ("url: /hook?token=abc123&x=1", "url: /hook?token=***&x=1"),
        ("/a?X-Api-Key=k1;sig=s2&page=2", "/a?X-Api-Key=***;sig=***&page=2"),
        ("plain text, no secrets: http://n8n:5678/webhook/a", None),
    ],
)
def test_redact_masks_url_passwords_and_query_tokens(text: str, expected: str | None) -> None:
    assert redact(text) == (expected or text)


def test_redact_masks_known_values_longest_first() -> None:
    text = "key abcdefgh and abcd"
    assert redact(text, "abcdefgh", "abcd", "", None, "ab") == "key *** and ***"


def test_redact_url_without_path_keeps_only_scheme_and_host() -> None:
    url = "https://user:pw@api.telegram.org/bot123:SECRET/sendMessage?chat_id=1"
    assert redact_url(url, keep_path=False) == "https://api.telegram.org/***"
    assert redact_url("https://hooks.example.com/", keep_path=False) == "https://hooks.example.com/"
    assert redact_url("not a url", keep_path=False) == "***"


def test_url_secrets_lists_password_path_and_query() -> None:
    assert url_secrets("https://u:pw12@h/bot1:X/send?t=1") == ("pw12", "/bot1:X/send", "t=1")
    assert url_secrets(None) == ()
