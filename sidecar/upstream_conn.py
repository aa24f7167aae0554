"""Connections to n8n: the exact request target, and whether the request left in full.

Exact target: `Upstream.send` passes the target in the TARGET_HEADER pseudo-header, past
urlopen's re-encoding; the connection takes it out and puts it on the request line as is.

Written in full:
A reset or closed connection does not say by itself whether n8n got the request: n8n may
have read it and started the workflow before the connection broke. These connection classes
remember whether the last request was written out completely; when the connection fails
before that (or while connecting), they raise `RequestNotWritten`, which proves n8n never
got the request. Everything else that goes wrong after the write counts as received.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.client import HTTPException

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError

# urllib3 swallows these while writing and still reads an early answer (e.g. n8n's 413).
ANSWER_MAY_FOLLOW = (BrokenPipeError, ConnectionResetError)


# Not a valid HTTP field name: no sender can set it, and http.client refuses to send it.
TARGET_HEADER = ":target"


def sendable_as_is(target: str) -> bool:
    """Whether `target` can go on a request line unchanged (printable ASCII, no space)."""
    return all("!" <= char <= "~" for char in target)


class RequestNotWritten(HTTPError):
    """The connection failed before the whole request was written: n8n cannot have it."""


class _WriteTracking:
    """Mixin for urllib3 connection classes: marks requests written in full."""

    written = False

    def connect(self) -> None:
        """Connect (and TLS handshake); any failure here means nothing was sent."""
        try:
            super().connect()  # type: ignore[misc]
        except ConnectTimeoutError:
            raise  # NewConnectionError, NameResolutionError, ConnectTimeoutError: typed already
        except Exception as exc:
            raise RequestNotWritten(f"connecting failed: {exc}") from exc

    def request(self, *args: object, **kwargs: object) -> None:
        """Write the request; `written` is True only when all of it went out."""
        self.written = False
        try:
            super().request(*args, **kwargs)  # type: ignore[misc]
        except ANSWER_MAY_FOLLOW:
            raise
        except OSError as exc:
            raise RequestNotWritten(f"writing the request failed: {exc}") from exc
        self.written = True

    def getresponse(self) -> urllib3.response.HTTPResponse:
        """Read the answer's head; a failure after a partial write is RequestNotWritten."""
        try:
            return super().getresponse()  # type: ignore[misc]
        except (OSError, HTTPException) as exc:
            if self.written:
                raise
            raise RequestNotWritten(f"connection lost before the request was sent: {exc}") from exc


class _ExactTarget:
    """Connection mixin: the target in TARGET_HEADER goes on the request line unchanged."""

    def request(
        self,
        method: str,
        url: str,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        **options: object,
    ) -> None:
        """urllib3's HTTPConnection.request, with the target of TARGET_HEADER if present."""
        if headers is not None and TARGET_HEADER in headers:
            headers = urllib3.HTTPHeaderDict(headers)
            url = headers.pop(TARGET_HEADER)
        super().request(method, url, body, headers, **options)  # type: ignore[misc]


class N8nHTTPConnection(_ExactTarget, _WriteTracking, HTTPConnection):
    """HTTPConnection: exact target, and knows whether its request was written in full."""


class N8nHTTPSConnection(_ExactTarget, _WriteTracking, HTTPSConnection):
    """HTTPSConnection: exact target, and knows whether its request was written in full."""


def use_n8n_connections(pool: urllib3.HTTPConnectionPool) -> None:
    """Make `pool` open the connections of this module (see its docstring)."""
    https = isinstance(pool, urllib3.HTTPSConnectionPool)
    pool.ConnectionCls = N8nHTTPSConnection if https else N8nHTTPConnection
