"""The n8n client, unit-tested with `responses` (no network)."""

from __future__ import annotations

import pytest
import requests
import responses
from urllib3.util import SKIP_HEADER

from sidecar.capture import CapturedRequest
from sidecar.errors import UpstreamTimeout, UpstreamUnreachable
from sidecar.upstream import Upstream

BASE = "http://n8n.test:5678"


def _captured(**changes: object) -> CapturedRequest:
    fields = {
        "method": "POST",
        "path": "/webhook/abc",
        "query": "a=1&b=%20x",
        "headers": [("Content-Type", "application/json"), ("X-Trace", "t1")],
        "body": b'{"x":1}',
    }
    fields.update(changes)
    return CapturedRequest(**fields)  # type: ignore[arg-type]


@responses.activate
def test_sends_method_target_headers_and_body() -> None:
    responses.post(f"{BASE}/webhook/abc", json={"ok": True}, status=201)
    answer = Upstream(BASE, timeout=5).send(_captured(), {"X-Sidecar-Attempt": "1"})
    sent = responses.calls[0].request
    assert sent.url == f"{BASE}/webhook/abc?a=1&b=%20x"
    assert sent.body == b'{"x":1}'
    assert sent.headers["X-Trace"] == "t1"
    assert sent.headers["X-Sidecar-Attempt"] == "1"
    # urllib3 is told to add nothing the sender did not send (checked on the wire elsewhere)
    assert sent.headers["User-Agent"] == sent.headers["Accept-Encoding"] == SKIP_HEADER
    assert answer.status == 201
    assert answer.read() == b'{"ok": true}'


@responses.activate
def test_repeated_request_headers_are_joined() -> None:
    responses.get(f"{BASE}/webhook/abc")
    headers = [("X-Tag", "a"), ("x-tag", "b")]
    Upstream(BASE, timeout=5).send(_captured(method="GET", body=b"", headers=headers))
    assert responses.calls[0].request.headers["X-Tag"] == "a, b"


@responses.activate
def test_hop_by_hop_response_headers_are_dropped() -> None:
    responses.get(
        f"{BASE}/webhook/abc",
        body=b"x",
        headers={"Connection": "close, X-Private", "X-Private": "1", "X-Kept": "2"},
    )
    answer = Upstream(BASE, timeout=5).send(_captured(method="GET", body=b""))
    names = {k.lower() for k, _ in answer.headers}
    assert "x-kept" in names
    assert not names & {"connection", "x-private"}


@responses.activate
def test_connection_errors_become_upstream_unreachable() -> None:
    responses.post(f"{BASE}/webhook/abc", body=requests.ConnectionError("refused"))
    with pytest.raises(UpstreamUnreachable, match="unreachable"):
        Upstream(BASE, timeout=5).send(_captured())


@responses.activate
def test_read_timeouts_become_upstream_timeout() -> None:
    responses.post(f"{BASE}/webhook/abc", body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout, match="within 5 s"):
        Upstream(BASE, timeout=5).send(_captured())


@responses.activate
def test_connect_timeout_means_unreachable_not_slow() -> None:
    responses.post(f"{BASE}/webhook/abc", body=requests.ConnectTimeout("syn lost"))
    with pytest.raises(UpstreamUnreachable):
        Upstream(BASE, timeout=5).send(_captured())


@responses.activate
def test_health_uses_n8n_healthz() -> None:
    responses.get(f"{BASE}/healthz", json={"status": "ok"})
    assert Upstream(BASE, timeout=5).healthy() == (True, "HTTP 200")
    responses.replace(responses.GET, f"{BASE}/healthz", status=503)
    assert Upstream(BASE, timeout=5).healthy() == (False, "HTTP 503")
