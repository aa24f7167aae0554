"""Single-mode passthrough through a real gunicorn gateway to a real n8n-like server.

n8n must not be able to tell a request through the sidecar from one sent directly, and the
sender must not be able to tell n8n's answer apart either.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.queues import wait_webhooks, webhooks
from support.raw_http import raw_request

from sidecar.harness.n8n_standin import N8N_PREFIXES, FakeN8n
from sidecar.harness.sidecar_processes import Gateway


@pytest.fixture(scope="module")
def gateway(fake_n8n: FakeN8n) -> Iterator[Gateway]:
    """A real `n8n-sidecar serve` in single mode in front of the session's fake n8n."""
    gw = Gateway(N8N_URL=fake_n8n.url, SIDECAR_MODE="single", SIDECAR_MAX_BODY_BYTES=1_000_000)
    yield gw
    gw.stop()


def hex_lower(text: str) -> str:
    """`text` with its percent-escapes in lower case (urllib3 would upper-case them)."""
    return re.sub(r"%[0-9a-fA-F]{2}", lambda m: m.group(0).lower(), text)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_n8n(gateway: Gateway, n8n: FakeN8n, method: str) -> None:
    response = raw_request(
        gateway.port, method, "/webhook/echo/m", b"" if method in ("GET", "HEAD") else b"x"
    )
    assert n8n.wait_for(1)[0].method == method
    assert response.getheader("X-Sidecar-Mode") == "single"


@pytest.mark.parametrize("prefix", N8N_PREFIXES)
def test_every_n8n_prefix_passes_through(gateway: Gateway, n8n: FakeN8n, prefix: str) -> None:
    response = requests.post(f"{gateway.url}/{prefix}/echo/abc", data=b"hi", timeout=10)
    assert response.status_code == 200
    assert n8n.wait_for(1)[0].path == f"/{prefix}/echo/abc"


@pytest.mark.parametrize(
    "target",
    [
        "/webhook/echo//double//slash/",
        "/webhook/echo/caf%C3%A9?name=%C3%A9t%C3%A9&a=1&a=2",
        "/webhook/echo/caf%c3%a9?sig=a%2fb%c3%a9&x=%2F",
        "/webhook-waiting/echo/123?signature=abc%2Bdef%3D%3D&empty=&flag",
        "/webhook-waiting/echo/123?signature=abc%2bdef%3d%3d",
        "/webhook/echo/a%3bb;param=1?q=a+b%20c&path=/x/../%2e%2e/#frag",
    ],
)
def test_raw_path_and_query_arrive_unchanged(gateway: Gateway, n8n: FakeN8n, target: str) -> None:
    raw_request(gateway.port, "GET", target)
    received = n8n.wait_for(1)[0]
    assert (received.path, received.query) == tuple(target.partition("?")[::2])


def test_headers_arrive_with_forwarded_ones_and_nothing_else(
    gateway: Gateway, n8n: FakeN8n
) -> None:
    sent = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": "s3cr3t",
        "Authorization": "Bearer abc",
        "Cookie": "a=1; b=2",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "dropped",
        "Keep-Alive": "timeout=5",
        "X-Forwarded-For": "203.0.113.9",  # a sender, not a trusted proxy: replaced
        "X-Forwarded-Host": "spoofed.example",
        "X-Sidecar-Job-Id": "forged",
    }
    raw_request(gateway.port, "POST", "/webhook/echo", b"{}", {**sent, "Host": "public.example"})
    received = n8n.wait_for(1)[0]
    names = {k.lower(): v for k, v in received.headers}
    for key in ("Content-Type", "X-Telegram-Bot-Api-Secret-Token", "Authorization", "Cookie"):
        assert names[key.lower()] == sent[key]
    assert names["x-forwarded-for"] == "127.0.0.1"
    assert names["x-forwarded-proto"] == "http"
    assert names["x-forwarded-host"] == "public.example"
    assert not {"x-hop", "keep-alive", "user-agent", "accept-encoding"} & set(names)
    assert "x-sidecar-job-id" not in names
    assert names["host"] == f"127.0.0.1:{n8n.port}"


def test_a_trusted_proxys_forwarded_headers_reach_n8n(procs, n8n: FakeN8n) -> None:
    trusting = procs.gateway(
        N8N_URL=n8n.url, SIDECAR_MODE="single", SIDECAR_TRUSTED_PROXIES="127.0.0.0/8"
    )
    sent = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example",
        "X-Sidecar-Attempt": "7",
    }
    raw_request(trusting.port, "POST", "/webhook/echo", b"{}", {**sent, "Host": "lb.internal"})
    (received,) = wait_webhooks(n8n, 1)  # n8n also gets the new gateway's /healthz probes
    names = {k.lower(): v for k, v in received.headers}
    assert names["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert names["x-forwarded-proto"] == "https"
    assert names["x-forwarded-host"] == "public.example"
    assert "x-sidecar-attempt" not in names


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", bytes(range(256)) * 64),
        ("application/x-www-form-urlencoded", b"a=1&b=%C3%A9&c=+"),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
            + bytes(range(256))
            + b"\r\n--XyZ--\r\n",
        ),
        ("application/json", json.dumps({"text": "héllo \u0000 wörld"}).encode()),
    ],
)
def test_body_bytes_arrive_unchanged(
    gateway: Gateway, n8n: FakeN8n, content_type: str, body: bytes
) -> None:
    raw_request(gateway.port, "POST", "/webhook/echo", body, {"Content-Type": content_type})
    assert n8n.wait_for(1)[0].body == body


def test_chunked_upload_is_forwarded_whole(gateway: Gateway, n8n: FakeN8n) -> None:
    requests.post(f"{gateway.url}/webhook/echo", data=iter([b"ab", b"cd", b"ef"]), timeout=10)
    assert n8n.wait_for(1)[0].body == b"abcdef"


def test_respond_to_webhook_answer_comes_back_unchanged(gateway: Gateway, n8n: FakeN8n) -> None:
    response = raw_request(
        gateway.port,
        "GET",
        "/webhook/respond-to-webhook?status=418&header=X-Custom:yes&header=Set-Cookie:a=1"
        "&header=Set-Cookie:b=2&body=teapot",
    )
    assert response.status == 418
    assert response.getheader("X-Custom") == "yes"
    assert [v for k, v in response.getheaders() if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert response.body == b"teapot"  # type: ignore[attr-defined]


def test_binary_download_is_byte_identical(gateway: Gateway, n8n: FakeN8n) -> None:
    response = raw_request(gateway.port, "GET", "/webhook/binary")
    assert response.body == FakeN8n.BINARY  # type: ignore[attr-defined]
    assert response.getheader("Content-Type") == "application/octet-stream"
    assert response.getheader("Content-Disposition") == 'attachment; filename="report.bin"'
    assert response.getheader("Content-Length") == str(len(FakeN8n.BINARY))


def test_compressed_answer_is_not_decoded(gateway: Gateway, n8n: FakeN8n) -> None:
    response = raw_request(
        gateway.port, "GET", "/webhook/gzip", headers={"Accept-Encoding": "gzip"}
    )
    assert response.getheader("Content-Encoding") == "gzip"
    body = response.body  # type: ignore[attr-defined]
    assert body[:2] == b"\x1f\x8b"  # still gzip: the sender decodes, not the sidecar
    assert json.loads(gzip.decompress(body)) == FakeN8n.GZIP_JSON


def test_streamed_answer_arrives_in_full(gateway: Gateway, n8n: FakeN8n) -> None:
    response = raw_request(
        gateway.port, "GET", "/webhook/stream?chunks=20&chunk_bytes=4096&delay=0.01"
    )
    assert response.body == FakeN8n.stream_body(20, 4096)  # type: ignore[attr-defined]


def test_unregistered_webhook_404_is_n8ns_own(gateway: Gateway, n8n: FakeN8n) -> None:
    response = requests.post(f"{gateway.url}/webhook/no-such-hook", timeout=10)
    assert response.status_code == 404
    assert (
        response.json()["message"] == 'The requested webhook "POST no-such-hook" is not registered.'
    )
    assert "hint" in response.json()


def test_n8n_errors_pass_through_with_retry_after(gateway: Gateway, n8n: FakeN8n) -> None:
    response = requests.get(f"{gateway.url}/webhook/status/503?retry_after=7", timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"


def test_sidecar_answers_carry_mode_and_json_errors(gateway: Gateway) -> None:
    response = requests.get(f"{gateway.url}/not-a-webhook", timeout=10)
    assert response.status_code == 404
    assert response.headers["X-Sidecar-Mode"] == "single"
    assert set(response.json()) == {"error", "message"}


def test_body_over_the_limit_gets_413(gateway: Gateway, n8n: FakeN8n) -> None:
    response = requests.post(f"{gateway.url}/webhook/echo", data=b"x" * 1_000_001, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    chunked = requests.post(
        f"{gateway.url}/webhook/echo", data=iter([b"x" * 600_000, b"y" * 600_000]), timeout=10
    )
    assert chunked.status_code == 413
    assert webhooks(n8n) == []  # the gateway's own /healthz probes are not webhooks


def test_body_at_the_limit_passes(gateway: Gateway, n8n: FakeN8n) -> None:
    response = requests.post(f"{gateway.url}/webhook/echo", data=b"x" * 1_000_000, timeout=10)
    assert response.status_code == 200
    assert len(n8n.wait_for(1)[0].body) == 1_000_000


SEGMENT = (
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/\\"),
        min_size=1,
        max_size=12,
    )
    .filter(lambda text: text not in (".", ".."))
    .map(lambda text: quote(text, safe="!$&'()*+,;=:@-._~"))
)
ESCAPE_CASE = st.sampled_from([str, hex_lower])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=4),
    query=st.lists(st.tuples(SEGMENT, SEGMENT), max_size=4),
    body=st.binary(max_size=2048),
    case=ESCAPE_CASE,
)
def test_generated_requests_arrive_exactly(
    gateway: Gateway, fake_n8n: FakeN8n, segments: list[str], query: list, body: bytes, case
) -> None:
    fake_n8n.reset()
    path = case("/webhook/echo/" + "/".join(segments))
    query_string = case("&".join(f"{k}={v}" for k, v in query))
    target = f"{path}?{query_string}" if query_string else path
    raw_request(gateway.port, "POST", target, body, {"Content-Type": "application/octet-stream"})
    received = fake_n8n.wait_for(1)[0]
    assert (received.path, received.query, received.body) == (path, query_string, body)
