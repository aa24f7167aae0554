"""HTTP/1.1 on the wire for the n8n stand-in: reading requests exactly as sent, writing
status lines, headers and chunks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import BinaryIO

from sidecar.harness.n8n_standin.messages import (
    Reply,
    encode_body,
    header_pairs,
    header_value,
    latin1,
)

MAX_LINE = 65536
MAX_HEADERS = 200
NO_BODY_STATUSES = frozenset({204, 304})


class BadRequest(Exception):
    """The client sent something that is not HTTP/1.x."""


@dataclass(frozen=True)
class RequestHead:
    """Request line and headers, exactly as sent (latin-1 decoded)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str:
        """Return the first value of header `name`, or ''."""
        return header_value(self.headers, name) or ""


def _readline(rfile: BinaryIO) -> bytes:
    """Read one line, refusing absurdly long ones."""
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadRequest("line too long")
    return line


def read_head(rfile: BinaryIO) -> RequestHead | None:
    """Read the request line and headers; None when the client closed the connection."""
    line = _readline(rfile)
    while line in (b"\r\n", b"\n"):
        line = _readline(rfile)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {line!r}")
    return RequestHead(parts[0], parts[1], parts[2], _read_headers(rfile))


def _read_headers(rfile: BinaryIO) -> list[tuple[str, str]]:
    """Read header lines up to the empty line, keeping order, case and duplicates."""
    headers: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS):
        line = _readline(rfile)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest(f"bad header line {line!r}")
        headers.append((name, value.strip(" \t\r\n")))
    raise BadRequest("too many headers")


def keep_alive(head: RequestHead) -> bool:
    """True if the connection stays open after this request."""
    tokens = {token.strip().lower() for token in head.get("Connection").split(",")}
    return head.version == "HTTP/1.1" and "close" not in tokens


def _read_chunked(rfile: BinaryIO) -> bytes:
    """Read a chunked request body, including trailers."""
    parts: list[bytes] = []
    while True:
        size = int(_readline(rfile).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        parts.append(rfile.read(size))
        _readline(rfile)
    while _readline(rfile).strip():
        pass
    return b"".join(parts)


def read_body(rfile: BinaryIO, head: RequestHead) -> bytes:
    """Read the request body (Content-Length or chunked)."""
    if "chunked" in head.get("Transfer-Encoding").lower():
        return _read_chunked(rfile)
    length = int(head.get("Content-Length") or 0)
    return rfile.read(length) if length > 0 else b""


def phrase(status: int) -> str:
    """Return the standard reason phrase of `status`, or 'Unknown'."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def status_head(status: int, headers: list[tuple[str, str]], close: bool) -> bytes:
    """Serialise the status line and headers."""
    lines = [f"HTTP/1.1 {status} {phrase(status)}\r\n", f"Date: {formatdate(usegmt=True)}\r\n"]
    lines += [f"{key}: {value}\r\n" for key, value in headers]
    if close:
        lines.append("Connection: close\r\n")
    return latin1("".join(lines) + "\r\n")


def chunk(data: bytes) -> bytes:
    """Frame `data` as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def write_reply(wfile: BinaryIO, reply: Reply, head_only: bool, close: bool) -> None:
    """Write `reply` to the client."""
    if reply.chunks is not None:
        _write_chunked(wfile, reply, head_only, close)
        return
    body, default_type = encode_body(reply.body)
    headers = header_pairs(reply.headers)
    if reply.status in NO_BODY_STATUSES or reply.status < 200:
        body = b""
    else:
        if default_type and body and header_value(headers, "Content-Type") is None:
            headers.append(("Content-Type", default_type))
        if header_value(headers, "Content-Length") is None:
            headers.append(("Content-Length", str(len(body))))
    head = status_head(reply.status, headers, close)
    wfile.write(head if head_only else head + body)


def _write_chunked(wfile: BinaryIO, reply: Reply, head_only: bool, close: bool) -> None:
    """Write `reply.chunks` with Transfer-Encoding: chunked."""
    headers = [*header_pairs(reply.headers), ("Transfer-Encoding", "chunked")]
    wfile.write(status_head(reply.status, headers, close))
    if head_only:
        return
    for index, data in enumerate(reply.chunks or []):
        if index and reply.chunk_delay:
            time.sleep(reply.chunk_delay)
        if data:  # an empty chunk would end the body early
            wfile.write(chunk(data))
    wfile.write(b"0\r\n\r\n")
