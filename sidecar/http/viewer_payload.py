"""What a viewer may see of a captured request: no body, sensitive headers redacted.

Sensitive: Authorization, Proxy-Authorization, Cookie, Set-Cookie, any header whose name
looks secret (sidecar.redact.secret_name: token, key, secret, sig, auth, …), and the routes'
HMAC signature and secret headers.
Query parameters with such names are redacted too. Operators and admins see everything.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.redact import secret_name

REDACTED = "[redacted]"
SENSITIVE_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
VISIBLE_FIELDS = ("method", "path", "query", "headers", "receivedAt", "operation")


def is_sensitive(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a header or parameter called `name` may carry a secret."""
    lowered = name.strip().lower()
    return lowered in SENSITIVE_NAMES or lowered in extra or secret_name(lowered)


def for_viewer(payload: dict, secret_headers: Iterable[str] = ()) -> dict:
    """`payload` (an opened captured request or typed job) as a viewer sees it: without its
    body or typed data, sensitive headers and query parameters replaced by REDACTED."""
    extra = frozenset(name.lower() for name in secret_headers)
    shown = {key: payload[key] for key in VISIBLE_FIELDS if key in payload}
    if isinstance(shown.get("headers"), list):
        shown["headers"] = [_header(pair, extra) for pair in shown["headers"]]
    if isinstance(shown.get("query"), str):
        shown["query"] = _query(shown["query"], extra)
    return shown


def _header(pair: object, extra: frozenset[str]) -> object:
    if isinstance(pair, list | tuple) and len(pair) == 2 and is_sensitive(str(pair[0]), extra):
        return [pair[0], REDACTED]
    return pair


def _query(query: str, extra: frozenset[str]) -> str:
    """The raw query string with the values of sensitive parameters replaced."""
    parts = []
    for part in query.split("&"):
        name, sep, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if sep and is_sensitive(name, extra) else part)
    return "&".join(parts)
