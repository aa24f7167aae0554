"""HMAC signature check, before anything is stored (GitHub, Shopify, Stripe-style headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from sidecar.capture import CapturedRequest
from sidecar.errors import BadSignature
from sidecar.routes import HmacRule
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
