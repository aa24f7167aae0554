"""Requests sent exactly as written (http.client with no client-side normalisation, or raw
bytes on a socket: invalid UTF-8, duplicated or malformed headers, lying framing), and a raw
server that records request lines exactly as received, and one that resets each connection
before reading the request."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self


def raw_request(
    port: int, method: str, target: str, body: bytes = b"", headers: dict | None = None
) -> http.client.HTTPResponse:
    """Send `method target` to 127.0.0.1:`port` with these headers (Host only if given,
    no Accept-Encoding, Content-Length from the body); the response, its body in `.body`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = headers or {}
    conn.putrequest(method, target, skip_accept_encoding=True, skip_host="Host" in headers)
    for key, value in headers.items():
        conn.putheader(key, value)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


class ThreadedServer:
    """A raw TCP server on 127.0.0.1: a thread accepts, a thread per connection runs
    `serve(conn)`. `connections` counts the accepted ones. Subclasses set their own
    attributes before calling `__init__`, which starts accepting."""

    def __init__(self) -> None:
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def serve(self, conn: socket.socket) -> None:
        """Talk to one accepted connection (closing it is up to the subclass)."""
        raise NotImplementedError

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                self.connections += 1
                threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        """Stop accepting connections."""
        self._server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RequestLineRecorder(ThreadedServer):
    """Records each request line byte for byte and answers `204` keeping the connection
    open. `lines` (bytes, in order), `connections` (accepted)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        """Record request lines, skip headers, answer 204 to each."""
        with conn, contextlib.suppress(OSError), conn.makefile("rb") as reader:
            while line := reader.readline():
                self.lines.append(line.rstrip(b"\r\n"))
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # headers; the requests sent here have no body
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")


@dataclass(frozen=True)
class RawAnswer:
    """What a server answered to raw bytes: status, headers (in order) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> object:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def raw_exchange(port: int, data: bytes, method: str = "GET", timeout: float = 10.0) -> RawAnswer:
    """Send `data` byte for byte to 127.0.0.1:`port`, then read one answer (HEAD: no body).
    ConnectionError when the server closes or resets the connection without answering,
    TimeoutError when it answers nothing within `timeout` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # a server may answer (413, 400) before reading everything
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            body = response.read()
        except TimeoutError:
            raise
        except (http.client.HTTPException, OSError) as exc:
            raise ConnectionError(f"no answer: {exc!r}") from exc
        return RawAnswer(response.status, response.getheaders(), body)


@contextlib.contextmanager
def resetting_server() -> Iterator[str]:
    """A server (its base URL) that resets each connection as soon as the request starts
    arriving, with the request unread: the client cannot write a large body in full."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(1, socket.MSG_PEEK)  # the client is writing now
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # linger 0: RST, with the request unread

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(5)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer of ScriptedServer: raw bytes, then `close` the connection or not."""

    data: bytes
    close: bool = False


class ScriptedServer(ThreadedServer):
    """A raw HTTP/1.1 server (over TLS with `tls`) that answers each request it reads with
    the next of `answers`, byte for byte (when they run out it answers nothing and keeps the
    connection). `requests` holds each request's raw bytes (head and body)."""

    def __init__(self, answers: list[Scripted], tls: ssl.SSLContext | None = None) -> None:
        self.answers, self.tls = list(answers), tls
        self.requests: list[bytes] = []
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        """Read each request whole, record it, send the next scripted answer."""
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused the certificate
                conn.close()
                return
        with conn, contextlib.suppress(OSError), conn.makefile("rb") as reader:
            while head := _read_head(reader):
                self.requests.append(head + reader.read(_content_length(head)))
                if not self.answers:
                    threading.Event().wait(30)
                    return
                answer = self.answers.pop(0)
                conn.sendall(answer.data)
                if answer.close:
                    return


def _content_length(head: bytes) -> int:
    lines = head.lower().split(b"\r\n")
    return next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)


def _read_head(reader: object) -> bytes:
    """A request's head up to and with its blank line (b"" at the end of the connection)."""
    lines = []
    while (line := reader.readline()) not in (b"", b"\r\n"):  # type: ignore[attr-defined]
        lines.append(line)
    return b"".join(lines) + b"\r\n" if lines else b""
