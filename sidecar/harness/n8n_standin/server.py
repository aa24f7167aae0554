"""The n8n stand-in: a real HTTP/1.1 server, run in a background thread, that answers like
n8n's webhooks (or as scripted) and records every request — or, for the benchmark, answers
everything at once and keeps score (see score.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, BinaryIO, ClassVar

from sidecar.harness.n8n_standin.answers import (
    BINARY_BODY,
    GZIP_DOCUMENT,
    answer,
    is_health_probe,
    stream_chunks,
)
from sidecar.harness.n8n_standin.messages import Received, Reply, json_reply
from sidecar.harness.n8n_standin.score import Score
from sidecar.harness.n8n_standin.tcp import Server
from sidecar.harness.n8n_standin.wire import (
    BadRequest,
    RequestHead,
    keep_alive,
    read_body,
    read_head,
    status_head,
    write_reply,
)
from sidecar.harness.ports import free_port


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


class FakeN8n:
    """A real HTTP/1.1 server on 127.0.0.1 that answers like n8n and records every request."""

    BINARY: ClassVar[bytes] = BINARY_BODY
    GZIP_JSON: ClassVar[dict[str, Any]] = GZIP_DOCUMENT

    def __init__(
        self,
        port: int | None = None,
        *,
        record: bool = True,
        answer_all: Reply | None = None,
        score: Score | None = None,
    ) -> None:
        """Prepare (but do not start) a server on `port` or a free port. Without `record`
        it keeps no requests; `answer_all` answers every unscripted request; a `score`
        counts deliveries and answers its /__bench/* requests."""
        self._port = port if port is not None else free_port()
        self._state = _State()
        self._record_requests, self._answer_all, self._score = record, answer_all, score
        self._server: Server | None = None
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
        return b"".join(stream_chunks(chunks, chunk_bytes))

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

    def wait_for(self, n: int, timeout: float = 5.0, probes: bool = False) -> list[Received]:
        """Block until at least `n` requests arrived; return them all, oldest first. n8n's
        health probes are left out unless `probes`: a gateway's mode monitor sends one when it
        starts, which can land among a test's webhooks."""

        def counted() -> list[Received]:
            return [r for r in self._state.received if probes or not is_health_probe(r.path)]

        with self._state.cond:
            ok = self._state.cond.wait_for(lambda: len(counted()) >= n, timeout)
            got = counted()
        if not ok:
            seen = [f"{r.method} {r.path}" for r in got]
            raise AssertionError(f"FakeN8n got {len(got)} request(s), wanted {n}: {seen}")
        return got

    def serve_one(self, rfile: BinaryIO, wfile: BinaryIO) -> bool:
        """Read, record and answer one request; return True to keep the connection."""
        try:
            head = read_head(rfile)
            if head is None:
                return False
            if head.get("Expect").lower() == "100-continue":
                wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = read_body(rfile, head)
        except (BadRequest, ValueError):
            wfile.write(status_head(400, [("Content-Length", "0")], close=True))
            return False
        rec = self._record(head, body)
        keep = keep_alive(head)
        reply = self._reply_for(rec)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hold is not None:
            reply.hold.wait(60)
        if reply.drop:
            return False
        write_reply(wfile, reply, rec.method == "HEAD", close=not keep)
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

    def _bind(self) -> Server:
        """Bind the port, retrying briefly while it is still busy."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return Server(self._port, self)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _record(self, head: RequestHead, body: bytes) -> Received:
        """Build and store the Received for the current request."""
        path, _, query = head.target.partition("?")
        rec = Received(head.method, path, query, head.headers, body, time.time())
        if not self._record_requests:
            return rec
        with self._state.cond:
            self._state.received.append(rec)
            self._state.cond.notify_all()
        return rec

    def _reply_for(self, rec: Received) -> Reply:
        """Return the scripted reply, else the built-in route's."""
        try:
            scored = self._score.answer(rec) if self._score is not None else None
            return scored or self._scripted(rec.path) or self._answer_all or answer(rec)
        except Exception as exc:  # a bad query parameter in a test must not kill the thread
            return json_reply({"code": 0, "message": f"FakeN8n: {exc!r}"}, 500)

    def _scripted(self, path: str) -> Reply | None:
        """Return the next scripted reply for `path`, if scripted."""
        with self._state.cond:
            script = self._state.scripts.get(path)
            return script.next() if script else None
