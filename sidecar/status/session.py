"""Sign-in for `/status`: the viewer token in a signed session cookie, and CSRF tokens.

* The cookie is Flask's signed session (HttpOnly, SameSite=Strict, name `sidecar_status`).
  It holds the token the person signed in with, never a URL; every request re-checks that
  token against SIDECAR_ADMIN_TOKENS, so removing a token signs its sessions out.
* The signing key is SIDECAR_SESSION_SECRET, or, when unset, HKDF-SHA256 over the configured
  tokens: stable across restarts and gateways sharing the same tokens, and it changes (signing
  everyone out) when the tokens change.
* Every form POST carries `csrf`, compared with the one kept in the session.
"""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, session

from sidecar.errors import Forbidden
from sidecar.http.auth import RANK, role_of
from sidecar.settings import Settings

COOKIE_NAME = "sidecar_status"
HKDF_INFO = b"n8n-sidecar /status session signing key"


def session_key(settings: Settings) -> bytes:
    """SIDECAR_SESSION_SECRET, or a key derived from the management tokens."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    material = "\n".join(f"{role}:{token}" for token, role in sorted(settings.admin_tokens.items()))
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return kdf.derive(material.encode() or b"no tokens configured")


def configure_sessions(app: Flask, settings: Settings) -> None:
    """Sign sessions with `session_key` and keep the cookie HttpOnly and same-site."""
    app.secret_key = session_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/status",
    )


def signed_in_role(tokens: dict[str, str]) -> str | None:
    """The role of the session's token, None when signed out or the token is gone."""
    token = session.get("token")
    return role_of(f"Bearer {token}", tokens) if isinstance(token, str) else None


def sign_in(token: str, tokens: dict[str, str]) -> str | None:
    """Keep `token` in the session when it is a known one; its role, or None."""
    role = role_of(f"Bearer {token}", tokens)
    if role is not None:
        session.clear()
        session["token"] = token
        session["csrf"] = secrets.token_urlsafe(32)
    return role


def sign_out() -> None:
    """Forget the token."""
    session.clear()


def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf(given: str | None) -> None:
    """Forbidden unless `given` is the session's CSRF token."""
    expected = session.get("csrf")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise Forbidden("the form's CSRF token is missing or stale: reload /status and retry")


def at_least(role: str | None, needed: str) -> bool:
    """True when `role` ranks at least `needed`."""
    return role is not None and RANK[role] >= RANK[needed]
