"""The event loop's n8n client (sidecar/upstream_async.py, sidecar/upstream_wire.py) against
raw servers that answer byte for byte: what goes on the wire, keep-alive, and every way an
HTTP/1.1 answer can be framed, stall or break. Each test runs on asyncio's loop and on
uvloop's (the gateway's)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from support.raw_http import Scripted, ScriptedServer
from support.tls import TlsFiles, make_tls_files

from sidecar import upstream_async
from sidecar.capture import CapturedRequest
from sidecar.errors import BadRequest, UpstreamFailedAfterSend, UpstreamNotReached, UpstreamTimeout
from sidecar.harness.n8n_standin import FakeN8n, Reply
from sidecar.harness.ports import free_port
from sidecar.upstream_async import AsyncUpstream, AsyncUpstreamResponse

OK = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
Run = Callable[[Callable[[], Awaitable[object]]], object]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Run a coroutine function to its end on one kind of loop."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(main: Callable[[], Awaitable[object]]) -> object:
        with asyncio.Runner(loop_factory=factory) as loop_runner:
            return loop_runner.run(main())

    return runner


def _captured(**changes: object) -> CapturedRequest:
    fields = {
        "method": "POST",
        "path": "/webhook/echo/abc",
        "query": "a=1&b=%20x",
        "headers": [("Content-Type", "application/json"), ("X-Trace", "t1"), ("x-trace", "t2")],
        "body": b'{"x":1}',
    }
    fields.update(changes)
    return CapturedRequest(**fields)  # type: ignore[arg-type]


def exchanges(run: Run, url: str, *requests: CapturedRequest, timeout: float = 5) -> list:
    """Send `requests` one after the other on one client; each (status, body) read whole, or
    the UpstreamError it raised."""

    async def main() -> list:
        upstream = AsyncUpstream(url, timeout=timeout)
        results: list = []
        try:
            for captured in requests:
                try:
                    answer = await upstream.send(captured)
                    results.append((answer.status, await answer.read()))
                except (UpstreamNotReached, UpstreamTimeout, UpstreamFailedAfterSend) as exc:
                    results.append(exc)
        finally:
            await upstream.close()
        return results

    return run(main)  # type: ignore[return-value]


def only_answer(run: Run, url: str, captured: CapturedRequest) -> tuple[int, bytes]:
    """One request's (status, body); the UpstreamError it got is raised."""
    [result] = exchanges(run, url, captured)
    if isinstance(result, Exception):
        raise result
    return result


def test_loop_client_reset_before_the_request_was_written_is_not_reached(
    run: Run, resetting_server: str
) -> None:
    body = b"x" * (32 * 1024 * 1024)
    with pytest.raises(UpstreamNotReached, match="before the request was written"):
        only_answer(run, resetting_server, _captured(body=body))


def test_loop_client_drop_after_the_request_was_read_counts_as_received(
    run: Run, n8n: FakeN8n
) -> None:
    n8n.script("/webhook/drop", [Reply(drop=True)])
    with pytest.raises(UpstreamFailedAfterSend) as raised:
        only_answer(run, n8n.url, _captured(path="/webhook/drop"))
    assert not isinstance(raised.value, UpstreamNotReached)
    assert n8n.wait_for(1)[0].path == "/webhook/drop"


def test_loop_client_refused_connection_is_not_reached(run: Run) -> None:
    with pytest.raises(UpstreamNotReached, match="unreachable"):
        only_answer(run, f"http://127.0.0.1:{free_port()}", _captured())


def test_the_request_goes_out_byte_for_byte(run: Run) -> None:
    with ScriptedServer([OK]) as server:
        assert exchanges(run, f"{server.url}/n8n/", _captured()) == [(200, b"ok")]
    assert server.requests == [
        b"POST /n8n/webhook/echo/abc?a=1&b=%20x HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Content-Type: application/json\r\nX-Trace: t1\r\nx-trace: t2\r\n"
        + b'Content-Length: 7\r\n\r\n{"x":1}'
    ]


def test_a_bodyless_get_has_no_content_length_and_a_bodyless_post_has_zero(run: Run) -> None:
    get, post = _captured(method="GET", body=b"", headers=[]), _captured(body=b"", headers=[])
    with ScriptedServer([OK, OK]) as server:
        exchanges(run, server.url, get, post)
    assert [request.split(b"\r\n")[1:-2] for request in server.requests] == [
        [f"Host: 127.0.0.1:{server.port}".encode()],
        [f"Host: 127.0.0.1:{server.port}".encode(), b"Content-Length: 0"],
    ]


def test_a_target_that_cannot_go_on_a_request_line_is_percent_encoded(run: Run) -> None:
    with ScriptedServer([OK]) as server:
        exchanges(run, server.url, _captured(path="/webhook/a b\xe9", query=""))
    assert server.requests[0].startswith(b"POST /webhook/a%20b%E9 HTTP/1.1\r\n")


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(run: Run) -> None:
    smuggled = _captured(headers=[("X-Note", "a\r\nX-Admin: yes")])  # never from a parsed request
    with ScriptedServer([OK]) as server, pytest.raises(BadRequest, match="line break"):
        only_answer(run, server.url, smuggled)
    assert server.requests == []


def test_keep_alive_carries_every_request_on_one_connection(run: Run) -> None:
    with ScriptedServer([OK, OK, OK]) as server:
        assert exchanges(run, server.url, *[_captured()] * 3) == [(200, b"ok")] * 3
    assert server.connections == 1


def test_cookies_n8n_sets_are_not_sent_back_with_other_senders_webhooks(
    run: Run, n8n: FakeN8n
) -> None:
    n8n.script("/webhook/login", [Reply(200, headers=[("Set-Cookie", "session=alice")])])
    url = n8n.url.replace("127.0.0.1", "localhost")  # a host name, as in compose (n8n:5678)
    exchanges(run, url, _captured(path="/webhook/login"), _captured(path="/webhook/other"))
    later = n8n.wait_for(2)[1]
    assert later.path == "/webhook/other"
    assert "cookie" not in {name.lower() for name, _ in later.headers}


def test_head_answer_has_no_body_and_the_next_request_still_works(run: Run) -> None:
    head = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    with ScriptedServer([head, OK]) as server:
        results = exchanges(run, server.url, _captured(method="HEAD", body=b""), _captured())
    assert results == [(200, b""), (200, b"ok")]


def test_a_body_without_length_ends_when_n8n_closes(run: Run) -> None:
    answer = Scripted(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello, all of it", close=True)
    with ScriptedServer([answer, OK]) as server:
        results = exchanges(run, server.url, _captured(), _captured())
    assert results == [(200, b"hello, all of it"), (200, b"ok")]
    assert server.connections == 2


def test_a_chunked_body_comes_unchunked(run: Run) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    with ScriptedServer([Scripted(chunked), OK]) as server:
        results = exchanges(run, server.url, _captured(), _captured())
    assert results == [(200, b"abcde"), (200, b"ok")]
    assert server.connections == 1


def test_an_interim_100_continue_is_skipped(run: Run) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"
    with ScriptedServer([Scripted(answer)]) as server:
        assert exchanges(run, server.url, _captured()) == [(201, b"done")]


def test_no_answer_within_the_read_timeout_is_a_timeout(run: Run) -> None:
    with ScriptedServer([]) as server:
        [result] = exchanges(run, server.url, _captured(), timeout=0.3)
    assert isinstance(result, UpstreamTimeout)
    assert "within 0.3 s" in str(result)


def test_an_answer_that_stalls_half_way_breaks_off(run: Run) -> None:
    half = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with ScriptedServer([half]) as server:
        [result] = exchanges(run, server.url, _captured(), timeout=0.3)
    assert isinstance(result, UpstreamFailedAfterSend)
    assert not isinstance(result, UpstreamNotReached)


def test_an_answer_cut_by_the_close_breaks_off(run: Run) -> None:
    cut = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)
    with ScriptedServer([cut]) as server:
        [result] = exchanges(run, server.url, _captured())
    assert isinstance(result, UpstreamFailedAfterSend)
    assert "broke off" in str(result)


def test_bytes_that_are_not_http_are_a_failure_after_send(run: Run) -> None:
    with ScriptedServer([Scripted(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")]) as server:
        [result] = exchanges(run, server.url, _captured())
    assert isinstance(result, UpstreamFailedAfterSend)
    assert not isinstance(result, UpstreamNotReached)


def test_a_pooled_connection_n8n_closed_is_replaced(run: Run) -> None:
    closing = Scripted(OK.data, close=True)  # keep-alive said, then closed while idle
    with ScriptedServer([closing, OK]) as server:

        async def main() -> list:
            upstream = AsyncUpstream(server.url, timeout=5)
            first = await (await upstream.send(_captured())).read()
            await asyncio.sleep(0.2)  # the close reaches the client
            second = await (await upstream.send(_captured())).read()
            await upstream.close()
            return [first, second]

        assert run(main) == [b"ok", b"ok"]
    assert server.connections == 2


def test_a_large_answer_read_slowly_arrives_whole(run: Run) -> None:
    body = bytes(range(256)) * 12_288  # 3 MB: reading from n8n pauses and resumes
    big = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    with ScriptedServer([big, OK]) as server:

        async def main() -> tuple[bytes, bytes]:
            upstream = AsyncUpstream(server.url, timeout=5)
            answer = await upstream.send(_captured())
            await asyncio.sleep(0.3)  # n8n has sent all it can; the client stopped reading
            parts = [chunk async for chunk in answer.iter_body()]
            again = await (await upstream.send(_captured())).read()
            await upstream.close()
            return b"".join(parts), again

        assert run(main) == (body, b"ok")
    assert server.connections == 1


def test_a_reader_slower_than_the_read_timeout_is_not_n8n_going_quiet(run: Run) -> None:
    body = bytes(range(256)) * 8192  # 2 MB: reading from n8n pauses
    big = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    with ScriptedServer([big]) as server:

        async def main() -> tuple[bytes, float]:
            upstream = AsyncUpstream(server.url, timeout=0.2)
            answer = await upstream.send(_captured())
            cpu = time.process_time()
            await asyncio.sleep(0.8)  # paused four read timeouts long
            cpu = time.process_time() - cpu
            parts = [chunk async for chunk in answer.iter_body()]
            await upstream.close()
            return b"".join(parts), cpu

        whole, cpu_while_paused = run(main)  # type: ignore[misc]
    assert whole == body
    assert cpu_while_paused < 0.3  # the deadline does not spin while reading is paused


def test_an_answer_closed_unread_frees_nothing_for_the_next(run: Run) -> None:
    with ScriptedServer(
        [Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), OK]
    ) as server:

        async def main() -> bytes:
            upstream = AsyncUpstream(server.url, timeout=5)
            answer: AsyncUpstreamResponse = await upstream.send(_captured())
            answer.close()  # never read: the connection is not trusted again
            again = await (await upstream.send(_captured())).read()
            await upstream.close()
            return again

        assert run(main) == b"ok"
    assert server.connections == 2


def test_connections_left_idle_are_let_go(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_async, "IDLE_SECONDS", 0.2)
    with ScriptedServer([OK] * 6) as server:

        async def main() -> list[int]:
            upstream = AsyncUpstream(server.url, timeout=5)
            answers = await asyncio.gather(*[upstream.send(_captured()) for _ in range(5)])
            for answer in answers:
                await answer.read()
            after_burst = len(upstream.pool.idle)
            await asyncio.sleep(0.3)
            await (await upstream.send(_captured())).read()
            after_idle = len(upstream.pool.idle)
            await upstream.close()
            return [after_burst, after_idle]

        assert run(main) == [5, 1]  # the burst's five kept, then only the one just used
    assert server.connections == 6


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate for localhost."""
    return make_tls_files(tmp_path_factory.mktemp("tls"), ("localhost",))


def _tls_server(files: TlsFiles, answers: list[Scripted]) -> ScriptedServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.server_cert, files.server_key)
    return ScriptedServer(answers, tls=context)


def test_an_https_n8n_is_verified_and_answers(
    run: Run, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(Path(tls_files.ca)))  # n8n's CA, as operators do
    with _tls_server(tls_files, [OK, OK]) as server:
        url = f"https://localhost:{server.port}"
        assert exchanges(run, url, _captured(), _captured()) == [(200, b"ok")] * 2
    assert server.requests[0].split(b"\r\n")[1] == f"Host: localhost:{server.port}".encode()
    assert server.connections == 1


def test_an_https_n8n_with_an_untrusted_certificate_is_not_reached(
    run: Run, tls_files: TlsFiles
) -> None:
    with _tls_server(tls_files, [OK]) as server:
        [result] = exchanges(run, f"https://localhost:{server.port}", _captured())
    assert isinstance(result, UpstreamNotReached)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result)
    assert server.requests == []
