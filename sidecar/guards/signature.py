"""Sender checks before anything is stored: an HMAC signature of the body (GitHub, Shopify,
Stripe-style headers) or a shared secret in a header (Telegram, GitLab)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from sidecar.capture import CapturedRequest
from sidecar.errors import BadSignature
from sidecar.routes import HmacRule, SecretRule
from sidecar.settings import read_secret


def expected_signature(rule: HmacRule, body: bytes, secret: str) -> str:
    """The header value a correct sender puts on `body`."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, rule.algorithm)).digest()
    encoded = digest.hex() if rule.encoding == "hex" else base64.b64encode(digest).decode()
    return rule.prefix + encoded


def verify_signature(captured: CapturedRequest, rule: HmacRule) -> None:
    """Raise BadSignature unless the rule's header carries the right HMAC of the body."""
    given = captured.header(rule.header)
    if not given:
        raise BadSignature(f"missing signature header {rule.header}")
    secret = read_secret(rule.secret_env) or ""
    expected = expected_signature(rule, captured.body, secret)
    if not secret or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise BadSignature(f"signature in {rule.header} does not match the body")


def verify_secret(captured: CapturedRequest, rule: SecretRule) -> None:
    """Raise BadSignature unless the rule's header carries the shared secret (compared in
    constant time)."""
    given = captured.header(rule.header)
    if not given:
        raise BadSignature(f"missing secret header {rule.header}")
    secret = read_secret(rule.env) or ""
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        raise BadSignature(f"secret in {rule.header} does not match")
