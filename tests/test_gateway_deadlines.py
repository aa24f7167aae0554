"""The event-driven gateway (ADR-007) against a real server process: senders that trickle
their headers or body are closed at the read deadlines while a normal webhook is answered;
the connection cap answers 503 + Retry-After; a long-lived SSE answer under /mcp/* reaches
the sender event by event; slow n8n answers do not queue behind each other."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import requests

from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.sidecar_processes import Gateway
from sidecar.harness.waiting import wait_until
from tests.support.raw_http import raw_request

TRICKLERS = 40


def connect(port: int) -> socket.socket:
    """A connected socket to the gateway (5 s timeouts)."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_all(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def trickle(sockets: list[socket.socket], stop: threading.Event, byte: bytes = b"x") -> None:
    """Send one byte to every socket every 0.2 s until `stop` (or the socket is closed)."""
    alive = list(sockets)
    while alive and not stop.wait(0.2):
        for sock in list(alive):
            try:
                sock.sendall(byte)
            except OSError:
                alive.remove(sock)


def test_tricklers_are_closed_at_the_deadlines_while_a_webhook_is_answered(
    procs, n8n: FakeN8n
) -> None:
    gateway: Gateway = procs.gateway(
        N8N_URL=n8n.url,
        SIDECAR_MODE="single",
        SIDECAR_HEADER_TIMEOUT_SECONDS=1.5,
        SIDECAR_BODY_TIMEOUT_SECONDS=1.5,
    )
    headers = [connect(gateway.port) for _ in range(TRICKLERS)]
    for sock in headers:
        sock.sendall(b"POST /webhook/slowloris HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
    bodies = [connect(gateway.port) for _ in range(TRICKLERS)]
    for sock in bodies:
        sock.sendall(b"POST /webhook/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    stop = threading.Event()
    threads = [
        threading.Thread(target=trickle, args=(headers, stop, b"a"), daemon=True),
        threading.Thread(target=trickle, args=(bodies, stop), daemon=True),
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        answered = time.monotonic()
        response = requests.post(f"{gateway.url}/webhook/echo/normal", data=b"{}", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - answered < 1.0  # not behind the tricklers
        header_answers = [read_all(sock) for sock in headers]
        body_answers = [read_all(sock) for sock in bodies]
        closed_after = time.monotonic() - started
    finally:
        stop.set()
        for sock in headers + bodies:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in header_answers), header_answers[:3]
    assert all(b'"request_timeout"' in a for a in header_answers)
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in body_answers), body_answers[:3]
    assert all(b'"request_timeout"' in a for a in body_answers)
    assert closed_after < 5  # at the 1.5 s deadlines, not when the senders gave up
    assert not any(r.path.startswith("/webhook/slow") for r in n8n.received)


def held_open(port: int) -> socket.socket:
    """A connection the gateway has accepted and answered once, kept open (keep-alive)."""
    sock = connect(port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:])
    while len(body) < int(fields[b"content-length"]) and (chunk := sock.recv(65536)):
        body += chunk
    assert head.startswith(b"HTTP/1.1 200"), answer
    return sock


def healthz_answers(port: int) -> bool:
    """True once a new connection is served (not refused at the cap)."""
    try:
        return raw_request(port, "GET", "/healthz", b"").status == 200
    except OSError:  # the cap's answer closes the connection while the request is sent
        return False


def test_a_connection_over_the_cap_gets_503_with_retry_after(procs, n8n: FakeN8n) -> None:
    gateway: Gateway = procs.gateway(
        N8N_URL=n8n.url, SIDECAR_MODE="single", SIDECAR_MAX_CONNECTIONS=5
    )
    held = [held_open(gateway.port) for _ in range(5)]
    try:
        with connect(gateway.port) as over:  # answered at connect, before any request
            head, _, body = read_all(over).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503")
        assert b"\r\nretry-after: 5" in head.lower()
        assert json.loads(body)["error"] == "service_unavailable"
        assert "message" in json.loads(body)
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: healthz_answers(gateway.port), what="room under the cap again")
    assert raw_request(gateway.port, "POST", "/webhook/echo/under-the-cap", b"{}").status == 200
    webhooks = [r.path for r in n8n.received if r.path.startswith("/webhook/")]
    assert webhooks == ["/webhook/echo/under-the-cap"]


def test_a_long_lived_sse_answer_reaches_the_sender_event_by_event(procs) -> None:
    events = [f'id: {n}\nevent: message\ndata: {{"n": {n}}}\n\n'.encode() for n in range(3)]
    steps = [threading.Event() for _ in events[1:]]
    server, port = stepped_sse_upstream(events, steps)
    gateway: Gateway = procs.gateway(N8N_URL=f"http://127.0.0.1:{port}", SIDECAR_MODE="single")
    try:
        with requests.get(f"{gateway.url}/mcp/tools/sse", stream=True, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            received = sse_events(response.iter_content(chunk_size=None))
            # each event reaches the sender while n8n holds the next one back: a gateway
            # that buffered would time out here
            assert next(received) == events[0]
            for step, event in zip(steps, events[1:], strict=True):
                step.set()
                assert next(received) == event
            assert list(received) == []
    finally:
        for step in steps:
            step.set()
        server.close()


def sse_events(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The events of an SSE stream, each as soon as its blank line has arrived."""
    buffered = b""
    for chunk in chunks:
        buffered += chunk
        while b"\n\n" in buffered:
            event, buffered = buffered.split(b"\n\n", 1)
            yield event + b"\n\n"


def test_slow_n8n_answers_are_waited_for_side_by_side(procs, n8n: FakeN8n) -> None:
    release = threading.Event()
    n8n.script("/webhook/held", [Reply(200, body={"ok": True}, hold=release)])
    gateway: Gateway = procs.gateway(N8N_URL=n8n.url, SIDECAR_MODE="single")
    senders = 200

    def post(_: int) -> int:
        return requests.post(f"{gateway.url}/webhook/held", data=b"{}", timeout=60).status_code

    with ThreadPoolExecutor(max_workers=senders) as pool:
        answers = pool.map(post, range(senders))
        try:
            # n8n answers none of them until all are waiting on it at once: a thread per
            # request (the old 32 threads) would never get there
            assert len(n8n.wait_for(senders, timeout=30)) == senders
        finally:
            release.set()
        assert list(answers) == [200] * senders


def stepped_sse_upstream(
    events: list[bytes], steps: list[threading.Event]
) -> tuple[socket.socket, int]:
    """An upstream answering /mcp/* with an SSE stream: the first event at once, each next
    one when its step is set, then the end of the stream."""
    server = socket.create_server(("127.0.0.1", 0))

    def stream(conn: socket.socket) -> None:
        with conn:
            if b"/mcp/" not in conn.recv(65536).split(b"\r\n", 1)[0]:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
            conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
            for step, event in zip([None, *steps], events, strict=True):
                if step is not None:
                    step.wait(30)
                conn.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            conn.sendall(b"0\r\n\r\n")

    serve_in_threads(server, stream)
    return server, server.getsockname()[1]


def serve_in_threads(server: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept connections on `server` until it is closed, each handled in its own thread."""

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def sse_upstream(closed: threading.Event) -> tuple[socket.socket, int]:
    """An upstream that streams an SSE event every 0.2 s for 30 s under /mcp/ (and answers
    anything else, e.g. the health probes, with an empty 200); sets `closed` when its peer
    (the gateway) closes the stream."""
    server = socket.create_server(("127.0.0.1", 0))

    def stream(conn: socket.socket) -> None:
        try:
            if b"/mcp/" not in conn.recv(65536).split(b"\r\n", 1)[0]:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
            conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
            for n in range(150):
                event = f"data: {n}\n\n".encode()
                conn.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                time.sleep(0.2)
        except OSError:
            closed.set()
        finally:
            conn.close()

    serve_in_threads(server, stream)
    return server, server.getsockname()[1]


def test_a_sender_leaving_an_sse_stream_closes_it_upstream(procs) -> None:
    closed = threading.Event()
    server, port = sse_upstream(closed)
    gateway: Gateway = procs.gateway(N8N_URL=f"http://127.0.0.1:{port}", SIDECAR_MODE="single")
    try:
        with requests.get(f"{gateway.url}/mcp/tools/sse", stream=True, timeout=10) as response:
            first = next(response.iter_content(chunk_size=None))
            assert first.startswith(b"data: 0")
        assert closed.wait(10), "the stream from n8n outlived its sender"
    finally:
        server.close()


def test_malformed_http_gets_a_json_400_and_the_connection_closed(procs, n8n: FakeN8n) -> None:
    gateway: Gateway = procs.gateway(N8N_URL=n8n.url, SIDECAR_MODE="single")
    for garbage in (
        b"GARBAGE\r\n\r\n",
        b"POST /webhook/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    ):
        with connect(gateway.port) as sock:
            sock.sendall(garbage)
            head, _, body = read_all(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), head
        assert b"content-type: application/json" in head.lower()
        assert json.loads(body)["error"] == "bad_request"
    assert [r for r in n8n.received if r.path.startswith("/webhook/")] == []


def test_an_answer_n8n_breaks_off_gets_a_json_502(procs) -> None:
    # n8n declares 100 bytes, sends 3 and closes: the sender gets a clear 502, not 3 bytes
    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")

    server = socket.create_server(("127.0.0.1", 0))
    serve_in_threads(server, answer)
    upstream = f"http://127.0.0.1:{server.getsockname()[1]}"
    gateway: Gateway = procs.gateway(N8N_URL=upstream, SIDECAR_MODE="single")
    try:
        response = requests.post(f"{gateway.url}/webhook/cut", data=b"{}", timeout=10)
    finally:
        server.close()
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unreachable"
