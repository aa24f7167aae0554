"""A real HTTP/1.1 server, run in a background thread, that answers like n8n's webhooks."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import random
import socket
import socketserver
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import Any, BinaryIO, ClassVar
from urllib.parse import parse_qs, unquote

from .ports import free_port

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
# n8n's webhook path prefixes, in the order of its docs (tests parametrize over them).
N8N_PREFIXES = (
    "webhook",
    "webhook-test",
    "webhook-waiting",
    "form",
    "form-test",
    "form-waiting",
    "mcp",
    "mcp-test",
)
PREFIXES = frozenset(N8N_PREFIXES)
TEST_PREFIXES = frozenset({"webhook-test", "form-test", "mcp-test"})
WEBHOOK_METHODS = frozenset({"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"})
NO_BODY_STATUSES = frozenset({204, 304})
MAX_LINE = 65536
MAX_HEADERS = 200

# Texts of n8n's WebhookNotFoundError
# (packages/cli/src/errors/response-errors/webhook-not-found.error.ts).
HINT_TEST = (
    "Click the 'Execute workflow' button on the canvas, then try again. "
    "(In test mode, the webhook only works for one call after you click this button)"
)
HINT_PRODUCTION = (
    "The workflow must be active for a production URL to run successfully. "
    "You can activate the workflow using the toggle in the top-right of the editor. "
    "Note that unlike test URL calls, production URL calls aren't shown on the canvas "
    "(only in the executions list)"
)

BINARY_BODY = b"\xff\xfe\x00\x80" + random.Random(5678).randbytes(256 * 1024 - 4)
GZIP_DOCUMENT = {"compressed": True, "items": [{"n": n} for n in range(50)]}

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
        return _get(self.headers, name)

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


@dataclass
class _Script:
    """Replies for one path; the last one repeats."""

    replies: list[Reply]
    calls: int = 0

    def next(self) -> Reply:
        """Return the reply for the next call."""
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        return reply


@dataclass
class _State:
    """Thread-safe record of received requests and scripted paths."""

    received: list[Received] = field(default_factory=list)
    scripts: dict[str, _Script] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)


def _json_bytes(value: Any) -> bytes:
    """Serialise like Express's res.json (compact JSON)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _json_reply(value: Any, status: int = 200, headers: Headers | None = None) -> Reply:
    """Build a JSON reply."""
    return Reply(status=status, headers=[("Content-Type", JSON_TYPE), *_pairs(headers)], body=value)


def _pairs(headers: Headers | None) -> list[tuple[str, str]]:
    """Normalise headers to a list of (name, value) pairs."""
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def _encode_body(body: Body) -> tuple[bytes, str | None]:
    """Return body bytes and the default Content-Type for it."""
    if isinstance(body, dict | list):
        return _json_bytes(body), JSON_TYPE
    if isinstance(body, str):
        return body.encode(), HTML_TYPE
    return bytes(body), None


def _latin1(text: str) -> bytes:
    """Encode header text as latin-1, falling back to UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


class _BadRequest(Exception):
    """The client sent something that is not HTTP/1.x."""


@dataclass(frozen=True)
class _Head:
    """Request line and headers, exactly as sent (latin-1 decoded)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str:
        """Return the first value of header `name`, or ''."""
        return _get(self.headers, name) or ""


def _get(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """Return the first value of header `name` (case-insensitive), or None."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _readline(rfile: BinaryIO) -> bytes:
    """Read one line, refusing absurdly long ones."""
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise _BadRequest("line too long")
    return line


def _read_head(rfile: BinaryIO) -> _Head | None:
    """Read the request line and headers; None when the client closed the connection."""
    line = _readline(rfile)
    while line in (b"\r\n", b"\n"):
        line = _readline(rfile)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"bad request line {line!r}")
    return _Head(parts[0], parts[1], parts[2], _read_headers(rfile))


def _read_headers(rfile: BinaryIO) -> list[tuple[str, str]]:
    """Read header lines up to the empty line, keeping order, case and duplicates."""
    headers: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS):
        line = _readline(rfile)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {line!r}")
        headers.append((name, value.strip(" \t\r\n")))
    raise _BadRequest("too many headers")


def _keep_alive(head: _Head) -> bool:
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


def _read_body(rfile: BinaryIO, head: _Head) -> bytes:
    """Read the request body (Content-Length or chunked)."""
    if "chunked" in head.get("Transfer-Encoding").lower():
        return _read_chunked(rfile)
    length = int(head.get("Content-Length") or 0)
    return rfile.read(length) if length > 0 else b""


def _phrase(status: int) -> str:
    """Return the standard reason phrase of `status`, or 'Unknown'."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _head(status: int, headers: list[tuple[str, str]], close: bool) -> bytes:
    """Serialise the status line and headers."""
    lines = [f"HTTP/1.1 {status} {_phrase(status)}\r\n", f"Date: {formatdate(usegmt=True)}\r\n"]
    lines += [f"{key}: {value}\r\n" for key, value in headers]
    if close:
        lines.append("Connection: close\r\n")
    return _latin1("".join(lines) + "\r\n")


def _chunk(data: bytes) -> bytes:
    """Frame `data` as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stream_body(chunks: int, chunk_bytes: int) -> list[bytes]:
    """Chunks of /webhook/stream: chunk i is `chunk_bytes` copies of letter a+i%26."""
    return [bytes([97 + index % 26]) * chunk_bytes for index in range(chunks)]


def _first(params: dict[str, list[str]], name: str, default: str) -> str:
    """Return the first value of query parameter `name`."""
    return params.get(name, [default])[0]


def _split_prefix(path: str) -> tuple[str | None, str]:
    """Split '/webhook/rest' into ('webhook', 'rest'); other paths give (None, path)."""
    parts = path.split("/", 2)
    if len(parts) == 3 and parts[0] == "" and parts[1] in PREFIXES:
        return parts[1], parts[2]
    return None, path.lstrip("/")


def not_found_body(method: str, path: str) -> dict[str, Any]:
    """Return n8n's JSON body for a request to an unregistered webhook at raw `path`."""
    prefix, rest = _split_prefix(path)
    webhook_path = unquote(rest).rstrip("/")
    if prefix in TEST_PREFIXES:
        message = f'The requested webhook "{webhook_path}" is not registered.'
        return {"code": 404, "message": message, "hint": HINT_TEST}
    message = f'The requested webhook "{method} {webhook_path}" is not registered.'
    return {"code": 404, "message": message, "hint": HINT_PRODUCTION}


def _echo(rec: Received, _params: dict[str, list[str]]) -> Reply:
    """Describe exactly what was received."""
    body_b64 = base64.b64encode(rec.body).decode()
    headers = [[key, value] for key, value in rec.headers]
    described = {"method": rec.method, "path": rec.path, "query": rec.query}
    return _json_reply({**described, "headers": headers, "body_b64": body_b64})


def _respond_immediately(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """n8n 'Immediately' response mode."""
    return _json_reply({"message": "Workflow was started"})


def _last_node(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """n8n 'When last node finishes' response mode, after a short compute."""
    time.sleep(0.005)
    return _json_reply([{"ok": True, "items": 1}])


def _respond_to_webhook(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """'Respond to Webhook' node: status, headers and body from the query string."""
    headers = [tuple(h.split(":", 1)) for h in params.get("header", []) if ":" in h]
    pairs = [(name.strip(), value.strip()) for name, value in headers]
    status = int(_first(params, "status", "200"))
    if "body" not in params:
        return _json_reply({"responded": True}, status, pairs)
    return Reply(status=status, headers=pairs, body=params["body"][0])


def _binary(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """A fixed binary file download."""
    headers = [("Content-Type", "application/octet-stream")]
    headers.append(("Content-Disposition", 'attachment; filename="report.bin"'))
    return Reply(headers=headers, body=FakeN8n.BINARY)


def _stream(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """A chunked answer: `chunks` chunks of `chunk_bytes`, `delay` seconds apart."""
    count, size = int(_first(params, "chunks", "5")), int(_first(params, "chunk_bytes", "1024"))
    chunks = _stream_body(count, size)
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    return Reply(headers=headers, chunks=chunks, chunk_delay=float(_first(params, "delay", "0")))


def _gzip(_rec: Received, _params: dict[str, list[str]]) -> Reply:
    """A gzip-compressed JSON answer."""
    headers = [("Content-Type", JSON_TYPE), ("Content-Encoding", "gzip")]
    return Reply(headers=headers, body=gzip.compress(_json_bytes(FakeN8n.GZIP_JSON), mtime=0))


def _slow(_rec: Received, params: dict[str, list[str]]) -> Reply:
    """Sleep `seconds`, then answer."""
    seconds = float(_first(params, "seconds", "1"))
    time.sleep(seconds)
    return _json_reply({"slept": seconds})


def _status(code: int, params: dict[str, list[str]]) -> Reply:
    """Answer status `code`, with Retry-After when `retry_after` is given."""
    headers = [("Retry-After", params["retry_after"][0])] if "retry_after" in params else []
    return _json_reply({"code": code, "message": _phrase(code)}, code, headers)


ROUTES = {
    "respond-immediately": _respond_immediately,
    "last-node": _last_node,
    "respond-to-webhook": _respond_to_webhook,
    "binary": _binary,
    "stream": _stream,
    "gzip": _gzip,
    "slow": _slow,
}


def _route(rec: Received) -> Reply:
    """Answer a request that no script claimed, like n8n would."""
    params = parse_qs(rec.query, keep_blank_values=True)
    if rec.path in ("/healthz", "/healthz/readiness"):
        return _json_reply({"status": "ok"})
    prefix, rest = _split_prefix(rec.path)
    if prefix is not None and (rest == "echo" or rest.startswith("echo/")):
        return _echo(rec, params)
    name = rest.rstrip("/")
    if prefix is not None and name in ROUTES:
        return ROUTES[name](rec, params)
    if prefix is not None and name.startswith("status/") and name[7:].isdigit():
        return _status(int(name[7:]), params)
    return _unregistered(rec)


def _unregistered(rec: Received) -> Reply:
    """n8n's answer for an unknown webhook (or an unsupported method)."""
    if rec.method == "OPTIONS":
        return Reply(status=204)
    if rec.method not in WEBHOOK_METHODS:
        message = f"The method {rec.method} is not supported."
        return _json_reply({"code": 0, "message": message}, 500)
    return _json_reply(not_found_body(rec.method, rec.path), 404)


class _Handler(socketserver.StreamRequestHandler):
    """Serves the requests of one connection; FakeN8n decides the answers."""

    server: _Server

    def setup(self) -> None:
        """Disable Nagle and register the connection."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def handle(self) -> None:
        """Serve requests until the connection closes."""
        with contextlib.suppress(OSError):
            while self.server.app.serve_one(self.rfile, self.wfile):
                pass

    def finish(self) -> None:
        """Unregister the connection."""
        self.server.untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Threading server that can cut all its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: FakeN8n) -> None:
        """Bind 127.0.0.1:port."""
        self.app = app
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, conn: socket.socket) -> None:
        """Remember an open connection (or cut it at once if the server is closed)."""
        with self.lock:
            self.connections.add(conn)
            if self.closed:
                _shutdown(conn)

    def untrack(self, conn: socket.socket) -> None:
        """Forget a closed connection."""
        with self.lock:
            self.connections.discard(conn)

    def cut_connections(self) -> None:
        """Shut down every open connection (handler threads then exit)."""
        with self.lock:
            self.closed = True
            conns = list(self.connections)
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: socket.socket) -> None:
    """Shut a connection down in both directions, ignoring errors."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class FakeN8n:
    """A real HTTP/1.1 server on 127.0.0.1 that answers like n8n and records every request."""

    BINARY: ClassVar[bytes] = BINARY_BODY
    GZIP_JSON: ClassVar[dict[str, Any]] = GZIP_DOCUMENT

    def __init__(self, port: int | None = None) -> None:
        """Prepare (but do not start) a server on `port` or a free port."""
        self._port = port if port is not None else free_port()
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """TCP port (stable across stop/start)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """True while accepting connections."""
        return self._server is not None

    @property
    def received(self) -> list[Received]:
        """Snapshot of the requests received so far, oldest first."""
        with self._state.cond:
            return list(self._state.received)

    @staticmethod
    def stream_body(chunks: int = 5, chunk_bytes: int = 1024) -> bytes:
        """Return the full body /webhook/stream sends for these parameters."""
        return b"".join(_stream_body(chunks, chunk_bytes))

    def start(self) -> FakeN8n:
        """Start listening on the port (no-op if running)."""
        if self._server is not None:
            return self
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-n8n", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and cut open connections (like n8n going down)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.cut_connections()
        if self._thread is not None:
            self._thread.join(5)

    def script(self, path: str, responses: Sequence[Reply]) -> None:
        """Answer requests to exact raw `path` with `responses` in turn (last repeats)."""
        if not responses:
            raise ValueError("script() needs at least one Reply")
        with self._state.cond:
            self._state.scripts[path] = _Script(list(responses))

    def clear(self) -> None:
        """Forget the received requests."""
        with self._state.cond:
            self._state.received.clear()

    def reset(self) -> None:
        """Forget received requests and scripts."""
        with self._state.cond:
            self._state.received.clear()
            self._state.scripts.clear()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least `n` requests arrived; return them all."""
        with self._state.cond:
            ok = self._state.cond.wait_for(lambda: len(self._state.received) >= n, timeout)
            got = list(self._state.received)
        if not ok:
            seen = [f"{r.method} {r.path}" for r in got]
            raise AssertionError(f"FakeN8n got {len(got)} request(s), wanted {n}: {seen}")
        return got

    def serve_one(self, rfile: BinaryIO, wfile: BinaryIO) -> bool:
        """Read, record and answer one request; return True to keep the connection."""
        try:
            head = _read_head(rfile)
            if head is None:
                return False
            if head.get("Expect").lower() == "100-continue":
                wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = _read_body(rfile, head)
        except (_BadRequest, ValueError):
            wfile.write(_head(400, [("Content-Length", "0")], close=True))
            return False
        rec = self._record(head, body)
        keep = _keep_alive(head)
        reply = self._reply_for(rec)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hold is not None:
            reply.hold.wait(60)
        if reply.drop:
            return False
        self._send(wfile, reply, rec.method == "HEAD", close=not keep)
        return keep

    def __enter__(self) -> FakeN8n:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def _bind(self) -> _Server:
        """Bind the port, retrying briefly while it is still busy."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return _Server(self._port, self)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _record(self, head: _Head, body: bytes) -> Received:
        """Build and store the Received for the current request."""
        path, _, query = head.target.partition("?")
        rec = Received(head.method, path, query, head.headers, body, time.time())
        with self._state.cond:
            self._state.received.append(rec)
            self._state.cond.notify_all()
        return rec

    def _reply_for(self, rec: Received) -> Reply:
        """Return the scripted reply, else the built-in route's."""
        try:
            return self._scripted(rec.path) or _route(rec)
        except Exception as exc:  # a bad query parameter in a test must not kill the thread
            return _json_reply({"code": 0, "message": f"FakeN8n: {exc!r}"}, 500)

    def _scripted(self, path: str) -> Reply | None:
        """Return the next scripted reply for `path`, if scripted."""
        with self._state.cond:
            script = self._state.scripts.get(path)
            return script.next() if script else None

    def _send(self, wfile: BinaryIO, reply: Reply, head_only: bool, close: bool) -> None:
        """Write `reply` to the client."""
        if reply.chunks is not None:
            self._send_chunked(wfile, reply, head_only, close)
            return
        body, default_type = _encode_body(reply.body)
        headers = _pairs(reply.headers)
        if reply.status in NO_BODY_STATUSES or reply.status < 200:
            body = b""
        else:
            if default_type and body and _get(headers, "Content-Type") is None:
                headers.append(("Content-Type", default_type))
            if _get(headers, "Content-Length") is None:
                headers.append(("Content-Length", str(len(body))))
        head = _head(reply.status, headers, close)
        wfile.write(head if head_only else head + body)

    def _send_chunked(self, wfile: BinaryIO, reply: Reply, head_only: bool, close: bool) -> None:
        """Write `reply.chunks` with Transfer-Encoding: chunked."""
        headers = [*_pairs(reply.headers), ("Transfer-Encoding", "chunked")]
        wfile.write(_head(reply.status, headers, close))
        if head_only:
            return
        for index, data in enumerate(reply.chunks or []):
            if index and reply.chunk_delay:
                time.sleep(reply.chunk_delay)
            if data:  # an empty chunk would end the body early
                wfile.write(_chunk(data))
        wfile.write(b"0\r\n\r\n")
