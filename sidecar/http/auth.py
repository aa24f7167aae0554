"""Bearer-token roles for the management API: viewer < operator < admin.

Tokens come from SIDECAR_ADMIN_TOKENS (`role:token,…`). Every configured token is compared
in constant time; tokens are never logged. With no token configured every /v1 call is
refused (health and metrics stay open).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import g, request

from sidecar.errors import Forbidden, Unauthorized
from sidecar.http.state import current_state

RANK = {"viewer": 1, "operator": 2, "admin": 3}
F = TypeVar("F", bound=Callable[..., object])


def role_of(header: str | None, tokens: dict[str, str]) -> str | None:
    """The role of the bearer token in `header`, or None (constant time over all tokens)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    found = None
    for token, role in tokens.items():
        if hmac.compare_digest(token.encode(), given.strip().encode()):
            found = role
    return found


def require(role: str) -> Callable[[F], F]:
    """Decorator: the caller's token must have at least `role`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: object, **kwargs: object) -> object:
            g.role = check(role)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check(needed: str) -> str:
    """The caller's role if it is at least `needed`; Unauthorized / Forbidden otherwise."""
    tokens = current_state().settings.admin_tokens
    if not tokens:
        raise Unauthorized("the management API is disabled: set SIDECAR_ADMIN_TOKENS")
    role = role_of(request.headers.get("Authorization"), tokens)
    if role is None:
        raise Unauthorized(
            "send 'Authorization: Bearer <token>' with a token from SIDECAR_ADMIN_TOKENS",
            headers={"WWW-Authenticate": 'Bearer realm="n8n-sidecar"'},
        )
    if RANK[role] < RANK[needed]:
        raise Forbidden(f"this needs the {needed} role; the token has {role}")
    return role
