"""Tests of the test infrastructure: real redis-server and the fake n8n."""

import ast
import base64
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import redis
import requests

from sidecar.harness.errors import HarnessError
from sidecar.harness.n8n_standin import (
    N8N_PREFIXES,
    FakeN8n,
    Reply,
    Score,
    Upstream,
    remote,
    start_upstream,
)
from sidecar.harness.n8n_standin.remote import WORKFLOW_STARTED
from sidecar.harness.ports import free_port
from sidecar.harness.processes import Processes
from sidecar.harness.redis_server import RedisServer
from sidecar.harness.sidecar_processes import ROOT


def raw_exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes, read until the server closes; return (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


# --- ports ---


def test_free_port_is_bindable_and_not_system_redis() -> None:
    port = free_port()
    assert port != 6379
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- fake n8n: recording ---


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (
            "/webhook/echo/a%2Fb/%E2%9C%93?q=%20a+b&x=%2F&&=&k",
            "/webhook/echo/a%2Fb/%E2%9C%93",
            "q=%20a+b&x=%2F&&=&k",
        ),
        ("//webhook//echo/./x/../y;p=1?", "//webhook//echo/./x/../y;p=1", ""),
        ("/webhook/echo/%zz%25%00~!$'()*,@:?a=%ZZ#", "/webhook/echo/%zz%25%00~!$'()*,@:", "a=%ZZ#"),
    ],
)
def test_recorded_path_and_query_are_raw(n8n: FakeN8n, target: str, path: str, query: str) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    raw_exchange(n8n.port, request)
    (rec,) = n8n.wait_for(1)
    assert (rec.method, rec.path, rec.query) == ("GET", path, query)


def test_echo_describes_exactly_what_was_received(n8n: FakeN8n) -> None:
    body = b"\x00\xff binary \r\n body"
    conn = http.client.HTTPConnection("127.0.0.1", n8n.port, timeout=5)
    conn.putrequest("PATCH", "/webhook-test/echo/deep/%41?z=1&z=2", skip_accept_encoding=True)
    for name, value in [("X-Dup", "one"), ("x-dup", "two"), ("Content-Length", str(len(body)))]:
        conn.putheader(name, value)
    conn.endheaders(body)
    answer = json.loads(conn.getresponse().read())
    assert answer["method"] == "PATCH"
    assert (answer["path"], answer["query"]) == ("/webhook-test/echo/deep/%41", "z=1&z=2")
    assert ["X-Dup", "one"] in answer["headers"] and ["x-dup", "two"] in answer["headers"]
    assert base64.b64decode(answer["body_b64"]) == body
    assert n8n.wait_for(1)[0].body == body


@pytest.mark.parametrize("prefix", N8N_PREFIXES)
def test_echo_exists_under_every_n8n_prefix(n8n: FakeN8n, prefix: str) -> None:
    response = requests.post(f"{n8n.url}/{prefix}/echo", data=b"hi", timeout=5)
    assert response.status_code == 200
    assert response.json()["path"] == f"/{prefix}/echo"


def test_chunked_request_body_is_decoded(n8n: FakeN8n) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", n8n.port, timeout=5)
    conn.request("POST", "/webhook/echo", body=iter([b"abc", b"", b"defg"]), encode_chunked=True)
    answer = json.loads(conn.getresponse().read())
    assert base64.b64decode(answer["body_b64"]) == b"abcdefg"
    assert n8n.wait_for(1)[0].header("transfer-encoding") == "chunked"


def test_wait_for_blocks_until_requests_arrive(n8n: FakeN8n) -> None:
    timer = threading.Timer(0.2, requests.get, args=(f"{n8n.url}/healthz",))
    timer.start()
    started = time.monotonic()
    assert [r.path for r in n8n.wait_for(1, timeout=5, probes=True)] == ["/healthz"]
    assert time.monotonic() - started >= 0.15
    timer.join()


def test_wait_for_leaves_health_probes_out_unless_asked(n8n: FakeN8n) -> None:
    requests.get(f"{n8n.url}/n8n/healthz/readiness", timeout=5)  # under an N8N_URL prefix
    requests.post(f"{n8n.url}/webhook/a", timeout=5)
    requests.get(f"{n8n.url}/healthz", timeout=5)
    assert [r.path for r in n8n.wait_for(1)] == ["/webhook/a"]
    assert len(n8n.wait_for(3, probes=True)) == 3
    with pytest.raises(
        AssertionError, match=r"got 1 request\(s\), wanted 2: \['POST /webhook/a'\]"
    ):
        n8n.wait_for(2, timeout=0.2)


def test_wait_for_times_out_with_clear_message(n8n: FakeN8n) -> None:
    requests.get(f"{n8n.url}/healthz", timeout=5)
    with pytest.raises(AssertionError, match=r"got 1 request\(s\), wanted 2: \['GET /healthz'\]"):
        n8n.wait_for(2, timeout=0.2, probes=True)


def test_clear_and_reset(n8n: FakeN8n) -> None:
    n8n.script("/webhook/x", [Reply(status=201)])
    requests.get(f"{n8n.url}/webhook/x", timeout=5)
    n8n.clear()
    assert n8n.received == []
    assert requests.get(f"{n8n.url}/webhook/x", timeout=5).status_code == 201
    n8n.reset()
    assert n8n.received == []
    assert requests.get(f"{n8n.url}/webhook/x", timeout=5).status_code == 404


# --- fake n8n: scripts ---


def test_scripted_replies_in_sequence_then_last_repeats(n8n: FakeN8n) -> None:
    n8n.script(
        "/webhook/echo",
        [
            Reply(status=503, headers={"Retry-After": "2"}, body={"down": True}),
            Reply(status=500, body=b"\x00raw"),
            Reply(status=200, headers=[("X-Step", "3")], body="done"),
        ],
    )
    got = [requests.post(f"{n8n.url}/webhook/echo?i={i}", timeout=5) for i in range(5)]
    assert [r.status_code for r in got] == [503, 500, 200, 200, 200]
    assert got[0].json() == {"down": True} and got[0].headers["Retry-After"] == "2"
    assert got[1].content == b"\x00raw"
    assert got[4].text == "done" and got[4].headers["X-Step"] == "3"
    assert [r.query for r in n8n.wait_for(5)] == [f"i={i}" for i in range(5)]


def test_script_matches_exact_path_only(n8n: FakeN8n) -> None:
    n8n.script("/webhook/a", [Reply(status=202)])
    assert requests.get(f"{n8n.url}/webhook/a?x=1", timeout=5).status_code == 202
    assert requests.get(f"{n8n.url}/webhook/a/", timeout=5).status_code == 404


def test_scripted_delay(n8n: FakeN8n) -> None:
    n8n.script("/webhook/late", [Reply(delay=0.3, body={"ok": True})])
    started = time.monotonic()
    assert requests.get(f"{n8n.url}/webhook/late", timeout=5).json() == {"ok": True}
    assert time.monotonic() - started >= 0.3


def test_scripted_drop_closes_without_answer(n8n: FakeN8n) -> None:
    n8n.script("/webhook/crash", [Reply(drop=True), Reply(status=200)])
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{n8n.url}/webhook/crash", data=b"x", timeout=5)
    assert requests.post(f"{n8n.url}/webhook/crash", data=b"x", timeout=5).status_code == 200


def test_scripted_chunks(n8n: FakeN8n) -> None:
    n8n.script("/webhook/s", [Reply(chunks=[b"ab", b"", b"cd"])])
    response = requests.get(f"{n8n.url}/webhook/s", timeout=5)
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.content == b"abcd"


# --- fake n8n: built-in routes ---


N8N_404_PRODUCTION = (
    '{"code":404,"message":"The requested webhook \\"POST no-such hook\\" is not registered.",'
    '"hint":"The workflow must be active for a production URL to run successfully. '
    "You can activate the workflow using the toggle in the top-right of the editor. "
    "Note that unlike test URL calls, production URL calls aren't shown on the canvas "
    '(only in the executions list)"}'
)


def test_unregistered_production_webhook_is_n8ns_404(n8n: FakeN8n) -> None:
    response = requests.post(f"{n8n.url}/webhook/no-such%20hook/", data=b"{}", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.text == N8N_404_PRODUCTION


def test_unregistered_test_webhook_is_n8ns_404(n8n: FakeN8n) -> None:
    response = requests.get(f"{n8n.url}/webhook-test/abc", timeout=5)
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "message": 'The requested webhook "abc" is not registered.',
        "hint": "Click the 'Execute workflow' button on the canvas, then try again. "
        "(In test mode, the webhook only works for one call after you click this button)",
    }


def test_unsupported_method_is_n8ns_500(n8n: FakeN8n) -> None:
    response = requests.request("PROPFIND", f"{n8n.url}/webhook/x", timeout=5)
    assert response.status_code == 500
    assert response.json() == {"code": 0, "message": "The method PROPFIND is not supported."}


def test_health_and_response_modes(n8n: FakeN8n) -> None:
    base = n8n.url
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    immediate = requests.post(f"{base}/webhook/respond-immediately", json={}, timeout=5)
    assert immediate.json() == {"message": "Workflow was started"}
    last = requests.post(f"{base}/webhook/last-node", json={}, timeout=5)
    assert last.json() == [{"ok": True, "items": 1}]


def test_respond_to_webhook_node(n8n: FakeN8n) -> None:
    query = "status=201&header=X-A:1&header=X-B:%20two:2&body=hello%20world"
    response = requests.post(f"{n8n.url}/webhook/respond-to-webhook?{query}", timeout=5)
    assert response.status_code == 201
    assert (response.headers["X-A"], response.headers["X-B"]) == ("1", "two:2")
    assert response.text == "hello world"
    default = requests.post(f"{n8n.url}/webhook/respond-to-webhook", timeout=5)
    assert (default.status_code, default.json()) == (200, {"responded": True})


def test_binary_is_exact(n8n: FakeN8n) -> None:
    response = requests.get(f"{n8n.url}/webhook/binary", timeout=5)
    assert response.content == FakeN8n.BINARY and len(FakeN8n.BINARY) == 256 * 1024
    assert response.headers["Content-Length"] == str(256 * 1024)
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="report.bin"'
    with pytest.raises(UnicodeDecodeError):
        FakeN8n.BINARY.decode("utf-8")


def test_chunked_stream_arrives_in_full_and_incrementally(n8n: FakeN8n) -> None:
    url = f"{n8n.url}/webhook/stream?chunks=4&chunk_bytes=3000&delay=0.15"
    with requests.get(url, stream=True, timeout=5) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.headers
        arrivals = [(time.monotonic(), part) for part in response.iter_content(None)]
    assert b"".join(part for _, part in arrivals) == FakeN8n.stream_body(4, 3000)
    assert arrivals[-1][0] - arrivals[0][0] >= 0.3


def test_stream_defaults(n8n: FakeN8n) -> None:
    response = requests.get(f"{n8n.url}/webhook/stream", timeout=5)
    assert response.content == FakeN8n.stream_body() and len(response.content) == 5 * 1024


def test_gzip_body_is_compressed_json(n8n: FakeN8n) -> None:
    with requests.get(f"{n8n.url}/webhook/gzip", stream=True, timeout=5) as response:
        raw = response.raw.read(decode_content=False)
    assert response.headers["Content-Encoding"] == "gzip"
    assert raw[:2] == b"\x1f\x8b" and response.headers["Content-Length"] == str(len(raw))
    assert requests.get(f"{n8n.url}/webhook/gzip", timeout=5).json() == FakeN8n.GZIP_JSON


def test_slow(n8n: FakeN8n) -> None:
    started = time.monotonic()
    response = requests.get(f"{n8n.url}/webhook/slow?seconds=0.3", timeout=5)
    assert response.json() == {"slept": 0.3}
    assert time.monotonic() - started >= 0.3


def test_status_route_with_retry_after(n8n: FakeN8n) -> None:
    response = requests.get(f"{n8n.url}/webhook/status/429?retry_after=7", timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json() == {"code": 429, "message": "Too Many Requests"}
    plain = requests.get(f"{n8n.url}/webhook/status/502", timeout=5)
    assert plain.status_code == 502 and "Retry-After" not in plain.headers
    assert requests.get(f"{n8n.url}/webhook/status/204", timeout=5).content == b""


def test_head_gets_headers_only(n8n: FakeN8n) -> None:
    response = requests.head(f"{n8n.url}/webhook/binary", timeout=5)
    assert response.headers["Content-Length"] == str(256 * 1024) and response.content == b""
    assert requests.get(f"{n8n.url}/webhook/binary", timeout=5).content == FakeN8n.BINARY


def peer_of(connection: socket.socket) -> tuple | None:
    """The peer address of a server-side connection (None once it is closed)."""
    try:
        return connection.getpeername()
    except OSError:
        return None


def test_keep_alive_connections_do_not_wait_for_nagle(n8n: FakeN8n) -> None:
    # A Nagle/delayed-ACK stall costs ~40 ms per keep-alive request: the fake's sockets
    # send at once (checked on the socket, not with a stopwatch). Connections of earlier
    # tests may still be open on the session's fake, so ours is found by its address.
    client = http.client.HTTPConnection("127.0.0.1", n8n.port, timeout=5)
    try:
        client.request("POST", "/webhook/echo/fast", body=b"{}")
        assert client.getresponse().read() is not None
        ours = client.sock.getsockname()
        (connection,) = [c for c in list(n8n._server.connections) if peer_of(c) == ours]
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()


# --- fake n8n: restarts ---


def test_stop_refuses_connections_then_start_serves_on_same_port(n8n: FakeN8n) -> None:
    port = n8n.port
    session = requests.Session()
    assert session.get(f"{n8n.url}/healthz", timeout=5).ok
    n8n.stop()
    assert not n8n.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{n8n.url}/healthz", timeout=2)
    n8n.start()
    assert n8n.port == port and n8n.url == f"http://127.0.0.1:{port}"
    assert requests.get(f"{n8n.url}/healthz", timeout=5).json() == {"status": "ok"}


def test_stop_cuts_open_keep_alive_connections(n8n: FakeN8n) -> None:
    with socket.create_connection(("127.0.0.1", n8n.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
        n8n.stop()
        assert sock.recv(65536) == b""
    n8n.start()


def test_stop_during_slow_request_and_restart(n8n: FakeN8n) -> None:
    errors: list[Exception] = []

    def call() -> None:
        try:
            requests.get(f"{n8n.url}/webhook/slow?seconds=1", timeout=5)
        except requests.ConnectionError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    n8n.wait_for(1)
    n8n.stop()
    thread.join(5)
    assert len(errors) == 1
    n8n.start()
    assert requests.get(f"{n8n.url}/healthz", timeout=5).ok


def test_context_manager_on_fixed_port() -> None:
    port = free_port()
    with FakeN8n(port=port) as server:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        assert server.running
    assert not server.running


# --- redis ---


def test_redis_server_answers_and_is_not_system_redis(redis_server: RedisServer) -> None:
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis_server.client() as client:
        assert client.ping() is True
        assert client.config_get("dir")["dir"] == str(redis_server.dir)


def test_redis_url_is_flushed(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("leftover", "1")


def test_redis_kill_then_restart_same_port() -> None:
    with RedisServer() as server:
        port = server.port
        server.kill()
        assert not server.alive
        with pytest.raises(redis.ConnectionError), server.client() as client:
            client.ping()
        server.restart()
        assert server.alive and server.port == port
        with server.client() as client:
            assert client.ping() is True


def test_redis_url_fixture_revives_killed_session_server(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    redis_server.kill()
    url = request.getfixturevalue("redis_url")
    assert redis_server.alive and url == redis_server.url
    with redis.Redis.from_url(url) as client:
        assert client.ping() is True


def test_redis_aof_survives_sigterm_restart() -> None:
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        with server.client() as client:
            client.set("durable", "yes")
        server.stop()
        assert not server.alive
        server.start()
        with server.client() as client:
            assert client.get("durable") == b"yes"


def test_redis_password_from_extra_args() -> None:
    with RedisServer(extra_args=["--requirepass", "s3cret"]) as server:
        assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}/0"
        with server.client() as client:
            assert client.ping() is True
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(1024).startswith(b"-NOAUTH")


def test_redis_start_failure_is_clear() -> None:
    server = RedisServer(extra_args=["--no-such-option", "1"], startup_timeout=2)
    with pytest.raises(RuntimeError, match=r"redis-server on 127\.0\.0\.1:\d+ exited with code"):
        server.start()
    server.cleanup()
    assert not server.dir.exists()


def test_redis_refuses_system_port() -> None:
    with pytest.raises(ValueError, match="6379"):
        RedisServer(port=6379)


# --- the benchmark's scoring stand-in ---


def test_scoring_stand_in_answers_everything_and_counts_each_seq() -> None:
    with FakeN8n(record=False, answer_all=WORKFLOW_STARTED, score=Score()) as server:
        for seq in (1, 2, 2):
            answer = requests.post(f"{server.url}/webhook/any/path", json={"seq": seq}, timeout=5)
            assert answer.status_code == 200
            assert answer.json() == {"message": "Workflow was started"}
        assert requests.get(f"{server.url}/healthz", timeout=5).ok  # a probe, not a delivery
        upstream = Upstream(server.port, "python")
        assert upstream.stats() | {"firstMs": 0, "lastMs": 0} == {
            "count": 3,
            "firstMs": 0,
            "lastMs": 0,
            "distinct": 2,
            "duplicates": 1,
        }
        assert upstream.seen() == {1, 2}
        upstream.reset()
        assert upstream.stats()["count"] == 0
        assert server.received == []


def test_python_stand_in_runs_in_its_own_process_without_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote.shutil, "which", lambda _name: None)
    procs = Processes(tmp_path)
    try:
        upstream = start_upstream(procs)
        assert upstream.kind.startswith("python")
        sent_at = time.time() * 1000
        requests.post(f"{upstream.url}/webhook/x", json={"seq": 7, "sentAt": sent_at}, timeout=5)
        assert upstream.seen() == {7}
        assert len(upstream.latencies_ms()) == 1
        with pytest.raises(HarnessError, match="needs node"):
            upstream.require_node("n8n-outage")
    finally:
        procs.stop_all()


@pytest.mark.parametrize("kind", ["node", "python"])
def test_both_bench_stand_ins_answer_webhook_slow_after_a_second(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "python":
        monkeypatch.setattr(remote.shutil, "which", lambda _name: None)
    elif remote.shutil.which("node") is None:
        pytest.skip("node is not installed")
    procs = Processes(tmp_path)
    try:
        upstream = start_upstream(procs)
        started = time.monotonic()
        answer = requests.post(f"{upstream.url}/webhook/slow", json={"seq": 1}, timeout=5)
        assert answer.status_code == 200 and time.monotonic() - started >= 0.95
        assert upstream.seen() == {1}  # counted like any delivery
    finally:
        procs.stop_all()


# --- who may use the harness ---


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (absolute imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_only_the_bench_and_the_tests_import_the_harness() -> None:
    package = ROOT / "sidecar"
    users = {
        path.relative_to(package).parts[0]
        for path in package.rglob("*.py")
        if any(name.startswith("sidecar.harness") for name in imported_modules(path))
    }
    assert users <= {"bench", "harness"}


def test_the_harness_imports_nothing_of_the_bench() -> None:
    for path in (ROOT / "sidecar" / "harness").rglob("*.py"):
        assert not any(name.startswith("sidecar.bench") for name in imported_modules(path)), path
