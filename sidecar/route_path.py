"""The path route rules are matched on: the raw request path as n8n will resolve it.

n8n (Express 5, `app.all('/webhook/*path')`) splits the raw path on '/', percent-decodes
each segment (decodeURIComponent: UTF-8, every escape, once), joins the segments again and
drops a trailing slash before it looks the webhook up, case-sensitively. `canonical_path`
does the same, so a rule for `/webhook/github` also governs `/webhook/github/` and
`/webhook/%67ithub`. Empty segments are kept (n8n keeps them: `a//b` is not `a/b`), case is
kept, and every trailing slash is dropped (n8n drops one; a path with more resolves to no
webhook there, and is matched here as if it had one).

Paths that different HTTP layers resolve differently are refused with BadPath (400
bad_path): characters RFC 3986 does not allow raw in a path (backslash, '#', controls,
non-ASCII, ...), invalid escapes, escapes that decode to a slash, backslash or control
character or to invalid UTF-8, dot segments (`.`, `..`, also `%2e`), and paths longer than
MAX_PATH_BYTES.

Webhook paths repeat (a sender calls the same webhook again and again): the canonical form
of the last CACHED_PATHS valid paths is kept per process, so a repeat costs one lookup.
Refusals are not kept (a refused path is checked anew each time).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from sidecar.errors import BadRequest

MAX_PATH_BYTES = 2048
CACHED_PATHS = 1024  # at most ~4 MB per process with paths of MAX_PATH_BYTES
# RFC 3986 pchar (unreserved, sub-delims, ':' '@'), the separator '/' and '%' of escapes.
RAW_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%")
ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
DOT_SEGMENTS = frozenset({".", ".."})


class BadPath(BadRequest):
    """A webhook path that cannot be resolved unambiguously."""

    code = "bad_path"


@lru_cache(maxsize=CACHED_PATHS)
def canonical_path(raw: str) -> str:
    """The decoded path n8n resolves raw request path `raw` to; BadPath when ambiguous."""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise BadPath(f"the path is longer than {MAX_PATH_BYTES} bytes")
    if not raw.startswith("/"):
        raise BadPath("the path must start with '/'")
    _check_raw_chars(raw)
    path = "/".join(_decoded_segment(segment) for segment in raw.split("/"))
    return path.rstrip("/") or "/"


def _check_raw_chars(raw: str) -> None:
    if RAW_PATH_CHARS.issuperset(raw):
        return
    bad = next((char for char in raw if char not in RAW_PATH_CHARS), None)
    if bad is not None:
        raise BadPath(f"the path holds {_name(bad)}, which must be percent-encoded")


def _decoded_segment(raw: str) -> str:
    """One segment percent-decoded once, as UTF-8; BadPath for what n8n could misread."""
    if "%" not in raw:
        text = raw
    elif raw.count("%") != len(ESCAPE.findall(raw)):
        raise BadPath(f"the path segment {raw!r} holds an invalid percent-escape")
    else:
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise BadPath(f"the path segment {raw!r} does not decode to UTF-8") from None
    if "/" in text or "\\" in text:
        raise BadPath(f"the path segment {raw!r} holds an encoded slash or backslash")
    if CONTROL.search(text):
        raise BadPath(f"the path segment {raw!r} holds an encoded control character")
    if text in DOT_SEGMENTS:
        raise BadPath("the path holds a dot segment ('.' or '..')")
    return text


def _name(char: str) -> str:
    if char == "\\":
        return "a backslash"
    if char.isprintable() and char.isascii():
        return f"{char!r}"
    return f"the character U+{ord(char):04X}"
