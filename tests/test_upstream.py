"""The n8n client against the real n8n-like server: what it sends, what it returns."""

from __future__ import annotations

import socket

import pytest
from support.raw_http import RequestLineRecorder

from sidecar.capture import CapturedRequest
from sidecar.errors import UpstreamFailedAfterSend, UpstreamNotReached, UpstreamTimeout
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.ports import free_port
from sidecar.upstream import Upstream


def _captured(**changes: object) -> CapturedRequest:
    fields = {
        "method": "POST",
        "path": "/webhook/echo/abc",
        "query": "a=1&b=%20x",
        "headers": [("Content-Type", "application/json"), ("X-Trace", "t1")],
        "body": b'{"x":1}',
    }
    fields.update(changes)
    return CapturedRequest(**fields)  # type: ignore[arg-type]


def test_sends_method_target_headers_and_body(n8n: FakeN8n) -> None:
    answer = Upstream(n8n.url, timeout=5).send(_captured(), {"X-Sidecar-Attempt": "1"})
    assert answer.status == 200
    answer.read()
    received = n8n.wait_for(1)[0]
    assert (received.method, received.path, received.query) == (
        "POST",
        "/webhook/echo/abc",
        "a=1&b=%20x",
    )
    assert received.body == b'{"x":1}'
    names = {k.lower(): v for k, v in received.headers}
    assert names["x-trace"] == "t1"
    assert names["x-sidecar-attempt"] == "1"
    assert not {"user-agent", "accept-encoding"} & set(names)  # nothing the sender did not send


def test_repeated_request_headers_stay_repeated(n8n: FakeN8n) -> None:
    headers = [("X-Tag", "a"), ("x-tag", "b")]
    Upstream(n8n.url, timeout=5).send(_captured(method="GET", body=b"", headers=headers)).read()
    values = [v for k, v in n8n.wait_for(1)[0].headers if k.lower() == "x-tag"]
    assert values == ["a", "b"]


def test_base_url_path_prefix_is_kept(n8n: FakeN8n) -> None:
    n8n.script("/n8n/webhook/abc", [Reply(201, body={"ok": True})])
    answer = Upstream(f"{n8n.url}/n8n/", timeout=5).send(_captured(path="/webhook/abc", query=""))
    assert answer.status == 201
    assert n8n.wait_for(1)[0].path == "/n8n/webhook/abc"


def test_hop_by_hop_response_headers_are_dropped(n8n: FakeN8n) -> None:
    reply = Reply(
        200,
        headers=[
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("X-Kept", "2"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ],
        body=b"x",
    )
    n8n.script("/webhook/h", [reply])
    answer = Upstream(n8n.url, timeout=5).send(_captured(path="/webhook/h", method="GET", body=b""))
    assert [k.lower() for k, _ in answer.headers].count("set-cookie") == 2
    names = {k.lower() for k, _ in answer.headers}
    assert "x-kept" in names
    assert not names & {"connection", "x-private"}
    assert answer.read() == b"x"


def test_refused_connection_is_not_reached() -> None:
    with pytest.raises(UpstreamNotReached, match="unreachable"):
        Upstream(f"http://127.0.0.1:{free_port()}", timeout=5).send(_captured())


def test_connection_dropped_after_the_request_was_read_counts_as_received(n8n: FakeN8n) -> None:
    n8n.script("/webhook/drop", [Reply(drop=True)])
    with pytest.raises(UpstreamFailedAfterSend) as raised:
        Upstream(n8n.url, timeout=5).send(_captured(path="/webhook/drop"))
    assert not isinstance(raised.value, UpstreamNotReached)
    assert n8n.wait_for(1)[0].path == "/webhook/drop"


def test_reset_before_the_request_was_written_is_not_reached(resetting_server: str) -> None:
    body = b"x" * (32 * 1024 * 1024)  # far more than the socket buffers hold: the write fails
    with pytest.raises(
        UpstreamNotReached, match=r"writing the request failed|before the request was sent"
    ):
        Upstream(resetting_server, timeout=5).send(_captured(body=body))


def test_slow_answer_is_a_timeout(n8n: FakeN8n) -> None:
    n8n.script("/webhook/slow-one", [Reply(200, delay=1.0)])
    with pytest.raises(UpstreamTimeout, match=r"within 0\.2 s"):
        Upstream(n8n.url, timeout=0.2).send(_captured(path="/webhook/slow-one"))


def test_connect_timeout_means_unreachable_not_slow() -> None:
    with socket.socket() as listener:  # bound, listening with a full backlog: SYN never answered
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):  # fill the accept queue; later SYNs are dropped by the kernel
            try:
                fillers.append(socket.create_connection(("127.0.0.1", port), timeout=0.3))
            except OSError:
                break
        try:
            with pytest.raises((UpstreamNotReached, UpstreamTimeout)):
                Upstream(f"http://127.0.0.1:{port}", timeout=0.3).send(_captured())
        finally:
            for sock in fillers:
                sock.close()


def test_half_read_answer_does_not_poison_the_pool(n8n: FakeN8n) -> None:
    upstream = Upstream(n8n.url, timeout=5, pool_size=1)
    answer = upstream.send(_captured(path="/webhook/binary", method="GET", body=b""))
    next(answer.iter_body())  # read one chunk, then abandon the rest
    answer.close()
    again = upstream.send(_captured(path="/webhook/binary", method="GET", body=b""))
    assert again.read() == FakeN8n.BINARY


def test_health_uses_n8n_healthz(n8n: FakeN8n) -> None:
    assert Upstream(n8n.url, timeout=5).healthy() == (True, "HTTP 200")
    n8n.script("/healthz", [Reply(503)])
    assert Upstream(n8n.url, timeout=5).healthy() == (False, "HTTP 503")
    assert Upstream(f"http://127.0.0.1:{free_port()}", timeout=5).healthy()[0] is False


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/webhook/caf%c3%a9", "sig=a%2fb%c3%a9"),
        ("/webhook/%7e/a%2Fb/%2e%2e", "q=%zz&r=%2B%2b#frag"),
        ("/webhook/x", "next=/a/../b?c&d=%"),
    ],
)
def test_path_and_query_go_on_the_request_line_byte_for_byte(path: str, query: str) -> None:
    with RequestLineRecorder() as recorder:
        upstream = Upstream(recorder.url, timeout=5)
        for _ in range(2):
            upstream.send(_captured(method="GET", path=path, query=query, body=b"")).read()
        upstream.close()
    line = f"GET {path}?{query} HTTP/1.1".encode()
    assert recorder.lines == [line, line]
    assert recorder.connections == 1  # still pooled: the second request reused the connection


def test_a_target_that_cannot_go_on_a_request_line_as_is_is_percent_encoded() -> None:
    with RequestLineRecorder() as recorder:
        Upstream(recorder.url, timeout=5).send(
            _captured(method="GET", path="/webhook/é", query="a=b c", body=b"")
        ).read()
    assert recorder.lines == [b"GET /webhook/%C3%A9?a=b%20c HTTP/1.1"]
