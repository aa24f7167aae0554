"""What the n8n stand-in receives and what it answers with."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

Headers = Sequence[tuple[str, str]] | dict[str, str]
Body = bytes | str | dict[str, Any] | list[Any]


@dataclass(frozen=True)
class Received:
    """One request as it arrived: raw path and query, headers in order, decoded body."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        """Return the first value of header `name` (case-insensitive), or None."""
        return header_value(self.headers, name)

    def json(self) -> Any:
        """Parse the body as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """A scripted answer; dict/list bodies are sent as JSON, `chunks` as chunked encoding."""

    status: int = 200
    headers: Headers | None = None
    body: Body = b""
    delay: float = 0.0
    chunks: list[bytes] | None = None
    chunk_delay: float = 0.0
    drop: bool = False
    hold: threading.Event | None = None  # answer only once the test sets it (60 s ceiling)


def json_bytes(value: Any) -> bytes:
    """Serialise like Express's res.json (compact JSON)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(value: Any, status: int = 200, headers: Headers | None = None) -> Reply:
    """Build a JSON reply."""
    return Reply(
        status=status, headers=[("Content-Type", JSON_TYPE), *header_pairs(headers)], body=value
    )


def header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    """Normalise headers to a list of (name, value) pairs."""
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def encode_body(body: Body) -> tuple[bytes, str | None]:
    """Return body bytes and the default Content-Type for it."""
    if isinstance(body, dict | list):
        return json_bytes(body), JSON_TYPE
    if isinstance(body, str):
        return body.encode(), HTML_TYPE
    return bytes(body), None


def latin1(text: str) -> bytes:
    """Encode header text as latin-1, falling back to UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """Return the first value of header `name` (case-insensitive), or None."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)
