"""RequestHead: what capture needs of a request before its body, read once from either
server interface — a WSGI environment (Flask's test client, sidecar/wsgi.py) or an ASGI
scope (the gateway, sidecar/http/asgi.py) — so that both capture alike.

The request target is kept as it was on the request line (gunicorn's RAW_URI, werkzeug's
REQUEST_URI, the gateway protocol's scope["sidecar.target"]). Header fields are kept the way
a WSGI server hands them over, whichever interface they came from: names lower-cased in the
order they first came, a repeated field's values joined with ',', and a name holding '_'
dropped (gunicorn's header_map=drop: once in an environment it cannot be told from '-').
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

WSGI_APART = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


@dataclass(frozen=True, slots=True)
class RequestHead:
    """Method, raw path and query, fields (lower-case name → value), peer address, scheme,
    and the server name (the Host to report when the sender sent none)."""

    method: str
    path: str
    query: str
    fields: dict[str, str]
    client: str
    scheme: str
    server_name: str

    @property
    def host(self) -> str:
        """The Host the sender asked for, else the server's name."""
        return self.fields.get("host") or self.server_name


def head_from_environ(environ: dict) -> RequestHead:
    """The head of the WSGI request in `environ`."""
    fields: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            fields[key[5:].replace("_", "-").lower()] = value
        elif key in WSGI_APART and value:
            fields[WSGI_APART[key]] = value
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    script_path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    path, query = _split_target(raw, script_path, environ.get("QUERY_STRING", ""))
    return RequestHead(
        method=environ["REQUEST_METHOD"].upper(),
        path=path,
        query=query,
        fields=fields,
        client=environ.get("REMOTE_ADDR", ""),
        scheme=environ.get("wsgi.url_scheme", "http"),
        server_name=environ.get("SERVER_NAME", ""),
    )


def head_from_scope(scope: dict) -> RequestHead:
    """The head of the ASGI HTTP request in `scope`."""
    fields: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if "_" in name:
            continue
        value = raw_value.decode("latin-1")
        fields[name] = f"{fields[name]},{value}" if name in fields else value
    query_string = scope.get("query_string", b"").decode("latin-1")
    path, query = _split_target(scope_target(scope), scope.get("path", ""), query_string)
    return RequestHead(
        method=scope["method"].upper(),
        path=path,
        query=query,
        fields=fields,
        client=(scope.get("client") or ("", 0))[0],
        scheme=scope.get("scheme", "http"),
        server_name=(scope.get("server") or ("", 0))[0],
    )


def scope_target(scope: dict) -> str:
    """The request target of an ASGI `scope` as on the request line (the gateway's protocol
    keeps it in scope["sidecar.target"]; else raw_path and query_string)."""
    target = scope.get("sidecar.target")
    if target is None:
        query = scope.get("query_string", b"")
        target = scope.get("raw_path") or scope["path"].encode()
        target += b"?" + query if query else b""
    return target.decode("latin-1")


def _split_target(raw: str, decoded_path: str, query_string: str) -> tuple[str, str]:
    """Path and query of the raw request target; for a target that is not a path (absolute
    form, '*'), the server's decoded path percent-encoded again and its query string."""
    if raw.startswith("/"):
        path, _, query = raw.partition("?")
        return path, query
    return quote(decoded_path, safe="/%:@!$&'()*+,;=-._~"), query_string
