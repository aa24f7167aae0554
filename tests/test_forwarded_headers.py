"""Sender-supplied X-Sidecar-* and X-Forwarded-* cannot speak for the sidecar."""

from __future__ import annotations

import io
from ipaddress import ip_network

import pytest

from sidecar.capture import capture, peer_is_trusted

PROXIES = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))


def environ(peer: str, **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhook/x",
        "QUERY_STRING": "",
        "REMOTE_ADDR": peer,
        "HTTP_HOST": "sidecar.example",
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
    }
    env.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return env


SPOOFED = {
    "X_FORWARDED_FOR": "1.2.3.4",
    "X_FORWARDED_PROTO": "https",
    "X_FORWARDED_HOST": "evil.example",
    "X_FORWARDED_PREFIX": "/admin",
    "FORWARDED": "for=1.2.3.4",
    "X_SIDECAR_JOB_ID": "forged",
    "X_SIDECAR_ATTEMPT": "9",
    "X_TRACE": "kept",
}


def test_an_untrusted_peers_forwarded_and_sidecar_headers_are_replaced() -> None:
    headers = capture(environ("203.0.113.9", **SPOOFED), 100, PROXIES).headers

    assert sorted(headers) == sorted(
        [
            ("X-Trace", "kept"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", "sidecar.example"),
        ]
    )


def test_without_trusted_proxies_every_peer_is_untrusted() -> None:
    names = {k.lower(): v for k, v in capture(environ("10.1.1.1", **SPOOFED), 100).headers}
    assert names["x-forwarded-for"] == "10.1.1.1"
    assert names["x-forwarded-host"] == "sidecar.example"


@pytest.mark.parametrize("peer", ["10.1.2.3", "::ffff:10.1.2.3", "fd00::7"])
def test_a_trusted_proxys_forwarded_headers_are_kept_and_the_peer_appended(peer: str) -> None:
    headers = capture(environ(peer, **SPOOFED), 100, PROXIES).headers
    names = {k.lower(): v for k, v in headers}

    assert names["x-forwarded-for"] == f"1.2.3.4, {peer}"
    assert names["x-forwarded-proto"] == "https"
    assert names["x-forwarded-host"] == "evil.example"
    assert names["x-forwarded-prefix"] == "/admin"
    assert not any(k.startswith("x-sidecar-") for k in names)  # never from a sender


@pytest.mark.parametrize("peer", ["", "unix:/run/s.sock", "11.0.0.1", "fe80::1%eth0"])
def test_other_peers_are_not_trusted(peer: str) -> None:
    assert not peer_is_trusted(peer, PROXIES)
