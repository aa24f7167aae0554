"""Abuse suite, webhook prefixes: hypothesis-made raw requests against a live gateway.

A real `n8n-sidecar serve` (single mode, then queue mode) in front of the fake n8n, with a
routes file that signs /webhook/github (HMAC-SHA256 in X-Hub-Signature-256). Requests are
written byte for byte on a socket: any method, paths under every n8n prefix with odd and
percent-encoded characters, raw non-ASCII and invalid UTF-8, huge, duplicated and malformed
headers, bodies framed by Content-Length, chunked, both, too short or invalid.

Properties: the sidecar itself never answers a 5xx (n8n's own 5xx and an honest
upstream_unreachable / upstream_timeout are allowed; told apart by the `error` code), it
always answers, and no request without a valid signature for /webhook/github reaches n8n or
is stored (202). Spellings of /webhook/github other than the exact one are generated only by
test_other_spellings_of_a_signed_route_are_signed_too (xfail until canonical paths land).
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
import requests
from hypothesis import given, note
from hypothesis import strategies as st
from support.abuse import budget, tally
from support.fake_n8n import FakeN8n, Received
from support.processes import Gateway
from support.raw_http import RawAnswer, raw_exchange

from sidecar.paths import WEBHOOK_PREFIXES

SECRET = "abuse-suite-secret"
SIGNED = b"/webhook/github"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_BODY = 64 * 1024
HONEST_UPSTREAM = frozenset({"upstream_unreachable", "upstream_timeout"})
ROUTES = f"""
- match: {SIGNED.decode()}
  hmac: {{secret_env: ABUSE_GITHUB_SECRET, header: {SIGNATURE_HEADER}, prefix: "sha256="}}
"""
FRAMING_HEADERS = {b"content-length", b"transfer-encoding", b"connection"}


def signature(body: bytes) -> str:
    """The right X-Hub-Signature-256 for `body`."""
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def canonical(path: bytes) -> bytes:
    """How a lenient router (n8n's) reads a path: decoded, no empty or dot segments, no
    trailing slash."""
    decoded = unquote_to_bytes(path)
    collapsed = re.sub(rb"/+", b"/", decoded)
    normal = posixpath.normpath(collapsed.decode("latin-1")).encode("latin-1")
    return normal.rstrip(b"/") or b"/"


# --- strategies ---

TOKEN = st.from_regex(rb"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}\Z")
SAFE = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:@!$&'()*+,;=")
PERCENT = st.binary(min_size=1, max_size=4).map(lambda b: "".join(f"%{x:02X}" for x in b))
SEGMENT = st.one_of(
    st.sampled_from([b"github", b"echo", b"orders", b"x", b"status", b"..", b".", b""]),
    SAFE.map(str.encode),
    PERCENT.map(str.encode),
    st.sampled_from([b'a"b', b"<x>", b"{y}", b"a|b", b"a\\b", b"a^b", b"`"]),
)
METHOD = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    st.sampled_from(["POST", "POST", "GET"]),
    st.sampled_from(["PROPFIND", "TRACE", "FOO", "M-SEARCH", "PURGE"]),
)
HEADER_NAME = st.one_of(
    st.sampled_from(
        [
            b"Content-Type",
            b"X-User-Id",
            b"X-Forwarded-For",
            b"X-Forwarded-Proto",
            b"X-Forwarded-Host",
            b"X-Real-Ip",
            b"X-Request-Id",
            b"Idempotency-Key",
            SIGNATURE_HEADER.encode(),
            b"Authorization",
            b"Cookie",
            b"Accept-Encoding",
            b"Expect",
            b"Te",
            b"Upgrade",
            b"Keep-Alive",
            b"X-Sidecar-Mode",
            b"X-Sidecar-Job-Id",
            b"X_Under_Score",
        ]
    ),
    TOKEN,
).filter(lambda name: name.lower() not in FRAMING_HEADERS | {b"host"})
OBS_TEXT = st.binary(max_size=20).map(
    lambda b: bytes(c if c >= 0x20 and c != 0x7F else 0x80 | c for c in b)
)
HEADER_VALUE = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.encode),
    st.text(st.characters(min_codepoint=0xA0), max_size=20).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    ),
    OBS_TEXT,
    st.sampled_from([b"\xff\xfe\xfd", b"caf\xe9", b"100-continue", b"chunked", b"a\tb", b""]),
    st.integers(1000, 8000).map(lambda n: b"v" * n),
)
HEADERS = st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=12)
BODY = st.one_of(
    st.binary(max_size=512),
    st.sampled_from([b'{"a": 1}', b"[]", b"\xff\xfe{", b'{"a": "\\ud800"}', b"a=1&b=%ff"]),
    st.integers(MAX_BODY - 10, MAX_BODY + 10).map(lambda n: b"x" * n),
)
FRAMING = st.sampled_from(["length", "length", "chunked", "none", "short"])
# What an HTTP parser must refuse (gunicorn answers 400/431 itself), applied to one request
# in five: each takes the encoded request and returns a broken one.
MALFORMED = {
    "raw UTF-8 in the path": lambda r: r.replace(b" HTTP/1.1", b"caf\xc3\xa9 HTTP/1.1", 1),
    "invalid UTF-8 in the path": lambda r: r.replace(b" HTTP/1.1", b"\xff\xfe HTTP/1.1", 1),
    "control character in a value": lambda r: _add_header(r, b"X-Ctl: a\x01\x00b"),
    "non-ASCII header name": lambda r: _add_header(r, b"X-\xc3\xa9t\xc3\xa9: 1"),
    "header without a colon": lambda r: _add_header(r, b"NoColon"),
    "space before the colon": lambda r: _add_header(r, b"X-Space : 1"),
    "lower-case method": lambda r: r[:1].lower() + r[1:],
    "duplicated Host": lambda r: _add_header(r, b"Host: a\r\nHost: b"),
    "header over 8 KiB": lambda r: _add_header(r, b"X-Huge: " + b"h" * 9000),
    "120 headers": lambda r: _add_header(r, b"\r\n".join(b"X-N%d: 1" % i for i in range(120))),
    "Content-Length and chunked": lambda r: _add_header(
        r, b"Transfer-Encoding: chunked\r\nContent-Length: 5"
    ),
    "invalid Content-Length": lambda r: _add_header(r, b"Content-Length: -1"),
    "two Content-Lengths": lambda r: _add_header(r, b"Content-Length: 0\r\nContent-Length: 1"),
    "HTTP/1.2": lambda r: r.replace(b" HTTP/1.1\r\n", b" HTTP/1.2\r\n", 1),
    "bare LF line ends": lambda r: r.replace(b"\r\n", b"\n"),
}


def _add_header(request: bytes, line: bytes) -> bytes:
    """`request` with `line` added right after the request line."""
    first, _, rest = request.partition(b"\r\n")
    return first + b"\r\n" + line + b"\r\n" + rest


@dataclass
class Attack:
    """One raw request, and whether it carries the right signature for its body."""

    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    framing: str
    signed: bool = False
    malformed: str | None = None

    def path(self) -> bytes:
        """The raw path of the request line (no query)."""
        return self.target.partition(b"?")[0]

    def encode(self) -> bytes:
        """The request as bytes on the wire (broken as `malformed` says, if set)."""
        wire = self.well_formed()
        return MALFORMED[self.malformed](wire) if self.malformed else wire

    def well_formed(self) -> bytes:
        """The request as bytes on the wire, always with Connection: close."""
        lines = [f"{self.method} ".encode() + self.target + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in self.headers]
        body = self.body
        if self.framing == "chunked":
            body = chunked(self.body)
            lines.append(b"Transfer-Encoding: chunked")
        elif self.framing == "length":
            lines.append(b"Content-Length: " + str(len(body)).encode())
        elif self.framing == "short":
            lines.append(b"Content-Length: " + str(len(body) // 2).encode())
        else:
            body = b""
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body: bytes) -> bytes:
    """`body` in Transfer-Encoding: chunked, in pieces of up to 100 bytes."""
    pieces = [body[i : i + 100] for i in range(0, len(body), 100)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@st.composite
def targets(draw: st.DrawFn, paths: st.SearchStrategy[bytes]) -> bytes:
    """A request target: a path and sometimes a query."""
    query = draw(st.one_of(st.just(b""), SAFE.map(lambda q: b"?" + q.encode()), st.just(b"?")))
    return draw(paths) + query


@st.composite
def webhook_paths(draw: st.DrawFn) -> bytes:
    """A path under an n8n prefix (or an exact /webhook/github), never another spelling of
    /webhook/github (see test_other_spellings_of_a_signed_route_are_signed_too)."""
    if draw(st.integers(0, 3)) == 0:
        return SIGNED
    prefix = draw(st.sampled_from([*WEBHOOK_PREFIXES, "webhook", "webhook"])).encode()
    segments = draw(st.lists(SEGMENT, min_size=1, max_size=4))
    path = b"/" + prefix + b"/" + b"/".join(segments)
    if path != SIGNED and canonical(path) == SIGNED:
        return b"/webhook/" + b"not-" + path.replace(b"/", b"_")
    return path


@st.composite
def attacks(draw: st.DrawFn, paths: st.SearchStrategy[bytes]) -> Attack:
    """A raw request; a fifth of them correctly signed."""
    attack = Attack(
        method=draw(METHOD),
        target=draw(targets(paths)),
        headers=draw(HEADERS),
        body=draw(BODY),
        framing=draw(FRAMING),
    )
    if draw(st.integers(0, 3)):
        attack.headers.insert(0, (b"Host", draw(st.sampled_from([b"127.0.0.1", b"evil.example"]))))
    if draw(st.booleans()) and len(attack.headers) > 1:
        attack.headers.append(draw(st.sampled_from(attack.headers[1:])))  # a duplicated header
    attack.headers = [(n, v) for n, v in attack.headers if n.lower() != b"x-hub-signature-256"]
    sent = attack.body if attack.framing in ("length", "chunked") else b""
    if draw(st.integers(0, 4)) == 0:
        attack.headers.append((SIGNATURE_HEADER.encode(), signature(sent).encode()))
        attack.signed = True
    elif draw(st.booleans()):
        attack.headers.append((SIGNATURE_HEADER.encode(), b"sha256=" + b"0" * 64))
    if draw(st.integers(0, 4)) == 0:
        attack.malformed = draw(st.sampled_from(sorted(MALFORMED)))
    return attack


# --- checks ---


def sidecar_made_5xx(answer: RawAnswer) -> bool:
    """A 5xx the sidecar produced itself (not n8n's own, not an honest upstream error)."""
    if answer.status < 500:
        return False
    body = answer.json()
    if isinstance(body, dict) and "error" not in body and "code" in body:
        return False  # n8n's (the fake's) own JSON error, passed through
    return not (isinstance(body, dict) and body.get("error") in HONEST_UPSTREAM)


def unsigned_deliveries(received: list[Received]) -> list[Received]:
    """Requests n8n got for the signed route without the right signature for their body."""
    return [
        rec
        for rec in received
        if canonical(rec.path.encode("latin-1")) == SIGNED
        and rec.header(SIGNATURE_HEADER) != signature(rec.body)
    ]


class Target:
    """A live gateway and the fake n8n behind it; `send` one attack and check it."""

    def __init__(self, gateway: Gateway, n8n: FakeN8n, mode: str) -> None:
        self.gateway, self.n8n, self.mode, self.seen = gateway, n8n, mode, 0

    def new_receipts(self) -> list[Received]:
        """What n8n received since the last call."""
        received = self.n8n.received
        fresh, self.seen = received[self.seen :], len(received)
        return fresh

    def send(self, attack: Attack) -> RawAnswer | None:
        """Send the attack; its answer (None when the server closed without one)."""
        note(f"request: {attack.encode()[:1500]!r}")
        try:
            return raw_exchange(self.gateway.port, attack.encode(), attack.method, timeout=5)
        except ConnectionError:
            return None

    def check(self, attack: Attack, answer: RawAnswer | None, exact_only: bool) -> None:
        """No sidecar 5xx; no unsigned request for the signed route delivered or stored
        (`exact_only`: only the exact path /webhook/github counts as the signed route)."""
        where = f"{attack.encode()[:300]!r} -> "
        if answer is not None:
            assert not sidecar_made_5xx(answer), where + f"{answer.status} {answer.body[:300]!r}"
        targets_signed = attack.path() == SIGNED if exact_only else True
        if targets_signed and not attack.signed and answer is not None:
            assert answer.status not in (200, 202), where + f"{answer.status}: stored or passed"
        leaked = unsigned_deliveries(self.new_receipts())
        assert not leaked, where + f"n8n received unsigned: {[r.path for r in leaked]}"


# --- fixtures ---


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


@pytest.fixture(params=["single", "queue"])
def target(request, procs, n8n: FakeN8n, redis_url: str, routes_file: Path) -> Iterator[Target]:
    gateway = procs.gateway(
        N8N_URL=n8n.url,
        REDIS_URL=redis_url,
        SIDECAR_MODE=request.param,
        SIDECAR_ROUTES_FILE=routes_file,
        ABUSE_GITHUB_SECRET=SECRET,
        SIDECAR_MAX_BODY_BYTES=MAX_BODY,
        SIDECAR_USER_RATE_LIMIT=1000,
        SIDECAR_MONITOR_INTERVAL_SECONDS=3600,
    )
    yield Target(gateway, n8n, request.param)
    health = requests.get(f"{gateway.url}/healthz", timeout=5)
    assert health.status_code == 200, "the gateway no longer answers after the abuse"
    assert "Traceback" not in gateway.output(), gateway.output()[-3000:]


# --- properties ---


def test_raw_requests_never_make_the_sidecar_fail(target: Target) -> None:
    @budget(f"webhooks:{target.mode}", 800)
    @given(attack=attacks(webhook_paths()))
    def property_(attack: Attack) -> None:
        tally(f"webhooks, raw requests ({target.mode} mode)")
        target.check(attack, target.send(attack), exact_only=True)

    property_()


SPELLINGS = st.sampled_from(
    [
        b"/webhook/github/",
        b"/webhook/github//",
        b"/webhook//github",
        b"/webhook/./github",
        b"/webhook/x/../github",
        b"/webhook/github/.",
        b"/webhook/%67ithub",
        b"/webhook/githu%62",
        b"/webhook/%67%69%74%68%75%62",
        b"/webhook/github%2F",
        b"/webhook/%2e/github",
        b"/%77ebhook/github",
    ]
)


@pytest.mark.xfail(
    strict=False,
    reason="known bypass, fixed on the canonical-paths branch: other spellings of a signed "
    "route reach n8n unsigned",
)
def test_other_spellings_of_a_signed_route_are_signed_too(target: Target) -> None:
    @budget(f"webhooks-spellings:{target.mode}", 60)
    @given(attack=attacks(SPELLINGS))
    def property_(attack: Attack) -> None:
        tally(f"webhooks, other spellings of /webhook/github ({target.mode} mode)")
        target.check(attack, target.send(attack), exact_only=False)

    property_()
