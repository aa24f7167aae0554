"""Redaction: secrets kept out of every text a person reads (config errors, log lines).

`redact(text, *known)` masks, wherever they appear in `text`:

* the password of a URL: `redis://:pw@redis:6379/0` -> `redis://:***@redis:6379/0`;
* the value of a query parameter whose name looks secret (token, key, secret, pass, sig,
  auth, session, credential): `?token=abc` -> `?token=***`;
* every `known` secret value (an API key, the path of an alert webhook URL, …).

`redact_url(url, keep_path=False)` shows only scheme and host of a URL whose path or query
may be the secret itself (alert webhooks such as Slack's or Telegram's bot URLs).
`url_secrets(url)` lists the parts of such a URL to pass to `redact` as `known`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
MIN_KNOWN_CHARS = 4  # shorter "secrets" would mask ordinary words
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"/@:]*):[^\s'\"]*@")
# A header, parameter or setting whose name holds one of these may carry a secret.
SECRET_NAME_PARTS = (
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "sig",
    "auth",
    "session",
    "credential",
)
_SECRET_QUERY = re.compile(
    rf"(?P<head>[?&;][^=&\s'\"#]*(?:{'|'.join(SECRET_NAME_PARTS)})"
    r"[^=&\s'\"#]*=)[^&;\s'\"#]+",
    re.IGNORECASE,
)


def secret_name(name: str) -> bool:
    """Whether a header or parameter called `name` may carry a secret (SECRET_NAME_PARTS)."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact(text: str, *known: str | None) -> str:
    """`text` with URL passwords, secret-looking query values and `known` values masked."""
    values = [v for v in known if v and len(v) >= MIN_KNOWN_CHARS]
    for value in sorted(values, key=len, reverse=True):  # longest first: no partial masks
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_url(url: str, keep_path: bool = True) -> str:
    """`url` with its password masked; without `keep_path`, path and query masked too."""
    if keep_path:
        return redact(url)
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return MASK
    host = parts.netloc.rpartition("@")[2]
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}/{MASK}" if hidden else f"{parts.scheme}://{host}/"


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The parts of `url` that may be secret (password, path, query), for `redact(…, *known)`."""
    if not url:
        return ()
    parts = urlsplit(url)
    password = parts.netloc.rpartition("@")[0].partition(":")[2]
    path = parts.path if parts.path not in ("", "/") else ""
    return tuple(part for part in (password, path, parts.query) if part)
