"""The request head capture reads: the same from a WSGI environment as from an ASGI scope,
and the headers forwarded from it."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from sidecar.capture import capture_parts, declared_length, end_to_end_headers
from sidecar.errors import PayloadTooLarge
from sidecar.request_head import RequestHead, head_from_environ, head_from_scope


def scope_of(target: bytes, headers: list[tuple[bytes, bytes]], path: str = "") -> dict:
    """An ASGI scope as the gateway's protocol makes it (uvicorn decodes `path`)."""
    raw_path, _, query = target.partition(b"?")
    return {
        "type": "http",
        "method": "POST",
        "path": path or unquote(raw_path.decode()),
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
        "client": ("10.0.0.7", 50000),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "sidecar.target": target,
    }


def environ_of(target: str, fields: dict[str, str]) -> dict:
    """A WSGI environment as gunicorn makes it (header_map=drop; PATH_INFO decoded)."""
    environ = {
        "REQUEST_METHOD": "post",
        "RAW_URI": target,
        "PATH_INFO": unquote(target.partition("?")[0]),
        "QUERY_STRING": target.partition("?")[2],
        "REMOTE_ADDR": "10.0.0.7",
        "SERVER_NAME": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }
    for name, value in fields.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


HEADERS = [
    (b"host", b"hooks.example.com"),
    (b"content-type", b"application/json"),
    (b"x-trace", b"a"),
    (b"content-length", b"2"),
    (b"x-trace", b"b"),
    (b"x_user", b"spoofed"),
    (b"connection", b"keep-alive, x-drop"),
    (b"x-drop", b"hop"),
    (b"x-sidecar-job-id", b"forged"),
]
# What gunicorn would have put in the environment for HEADERS.
FIELDS = {
    "host": "hooks.example.com",
    "content-type": "application/json",
    "x-trace": "a,b",
    "content-length": "2",
    "connection": "keep-alive, x-drop",
    "x-drop": "hop",
    "x-sidecar-job-id": "forged",
}


def test_a_scope_and_an_environment_of_one_request_give_one_head() -> None:
    from_scope = head_from_scope(scope_of(b"/webhook/a%2Db?x=1&y", HEADERS))
    from_environ = head_from_environ(environ_of("/webhook/a%2Db?x=1&y", FIELDS))
    assert from_scope == from_environ
    assert from_scope == RequestHead(
        method="POST",
        path="/webhook/a%2Db",
        query="x=1&y",
        fields=FIELDS,
        client="10.0.0.7",
        scheme="http",
        server_name="127.0.0.1",
    )


def test_forwarded_headers_are_title_cased_end_to_end_with_content_type_last() -> None:
    head = head_from_scope(scope_of(b"/webhook/a", HEADERS))
    assert end_to_end_headers(head) == [
        ("X-Trace", "a,b"),
        ("Content-Type", "application/json"),
    ]
    captured = capture_parts(head, b"{}")
    assert captured.headers[-3:] == [
        ("X-Forwarded-For", "10.0.0.7"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "hooks.example.com"),
    ]
    assert (captured.method, captured.target, captured.route_path) == (
        "POST",
        "/webhook/a",
        "/webhook/a",
    )


def test_a_content_type_named_in_connection_is_not_forwarded() -> None:
    headers = [(b"content-type", b"text/plain"), (b"connection", b"content-type")]
    assert end_to_end_headers(head_from_scope(scope_of(b"/webhook/a", headers))) == []


def test_without_a_host_the_server_name_is_reported() -> None:
    head = head_from_scope(scope_of(b"/webhook/a", []))
    assert head.host == "127.0.0.1"
    assert ("X-Forwarded-Host", "127.0.0.1") in capture_parts(head, b"").headers


def test_an_absolute_form_target_falls_back_to_the_servers_path_and_query() -> None:
    scope = scope_of(b"http://hooks.example.com/webhook/a b:c?q=1", [], path="/webhook/a b:c")
    scope["query_string"] = b"q=1"
    head = head_from_scope(scope)
    assert (head.path, head.query) == ("/webhook/a%20b:c", "q=1")


def test_the_target_without_the_protocols_copy_comes_from_raw_path_and_query() -> None:
    scope = scope_of(b"/webhook/%41?z=2", [])
    del scope["sidecar.target"]
    assert (head_from_scope(scope).path, head_from_scope(scope).query) == ("/webhook/%41", "z=2")
    scope = scope_of(b"/webhook/%41", [])
    del scope["sidecar.target"], scope["raw_path"]
    assert (head_from_scope(scope).path, head_from_scope(scope).query) == ("/webhook/A", "")


def test_the_protocols_copy_of_the_target_is_preferred_it_keeps_a_fragment() -> None:
    scope = scope_of(b"/webhook/a#x", [])
    scope["raw_path"] = b"/webhook/a"  # what uvicorn keeps: no fragment
    assert head_from_scope(scope).path == "/webhook/a#x"  # so capture refuses the '#'


def test_a_bare_scope_or_environment_gets_the_defaults() -> None:
    scope = {"type": "http", "method": "get", "path": "/webhook/a", "headers": []}
    environ = {"REQUEST_METHOD": "get", "PATH_INFO": "/webhook/a"}
    expected = RequestHead("GET", "/webhook/a", "", {}, "", "http", "")
    assert head_from_scope(scope) == head_from_environ(environ) == expected


def test_header_bytes_are_read_as_latin_1() -> None:
    head = head_from_scope(scope_of(b"/webhook/a", [(b"X-Name", b"caf\xe9")]))
    assert head.fields == {"x-name": "café"}


def test_werkzeugs_request_uri_stands_in_for_raw_uri() -> None:
    environ = environ_of("/webhook/%41?q=1", {})
    environ["REQUEST_URI"] = environ.pop("RAW_URI")
    head = head_from_environ(environ)
    assert (head.path, head.query) == ("/webhook/%41", "q=1")


def test_without_a_raw_target_the_environments_path_is_encoded_again() -> None:
    environ = environ_of("/webhook/x", {})
    del environ["RAW_URI"]
    environ.update(SCRIPT_NAME="/base", PATH_INFO="/webhook/a b:c@d", QUERY_STRING="q=1")
    head = head_from_environ(environ)
    assert (head.path, head.query) == ("/base/webhook/a%20b:c@d", "q=1")


@pytest.mark.parametrize(
    ("value", "declared"), [("", None), ("12", 12), ("5,5", None), ("-1", None)]
)
def test_the_declared_length(value: str, declared: int | None) -> None:
    headers = [(b"content-length", value.encode())] if value else []
    assert declared_length(head_from_scope(scope_of(b"/webhook/a", headers)), 100) == declared


def test_a_declared_length_over_the_limit_is_refused_before_the_body() -> None:
    head = head_from_scope(scope_of(b"/webhook/a", [(b"content-length", b"101")]))
    with pytest.raises(PayloadTooLarge, match="101 bytes is over the 100-byte limit"):
        declared_length(head, 100)


def test_the_scheme_comes_from_the_server() -> None:
    scope = scope_of(b"/webhook/a", [])
    scope["scheme"] = "https"
    environ = environ_of("/webhook/a", {})
    environ["wsgi.url_scheme"] = "https"
    assert head_from_scope(scope).scheme == head_from_environ(environ).scheme == "https"
    assert ("X-Forwarded-Proto", "https") in capture_parts(head_from_scope(scope), b"").headers
