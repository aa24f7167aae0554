"""Route rules hold however the sender spells the path: through a real gateway to a fake n8n.

A rule governs the webhook n8n will run, not the bytes of the path: every spelling of a
signed route's path is refused (400 bad_path), or held to the signature (401), or is a path
n8n resolves to another webhook. No unsigned request for a signed webhook reaches n8n.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.n8n_paths import n8n_webhook_name
from support.queues import webhooks
from support.raw_http import raw_request

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.sidecar_processes import Gateway

ROUTES = """
- match: /webhook/github
  hmac: {secret_env: SPELLING_SECRET, header: X-Hub-Signature-256, prefix: "sha256="}
- match: /webhook/signed/*
  hmac: {secret_env: SPELLING_SECRET, header: X-Signature}
- match: /webhook/sync-orders
  sync: true
"""
SIGNED_NAMES = ("github", "signed/*")  # the n8n webhook names the signed rules govern
SIGNED_PATHS = ("/webhook/github", "/webhook/signed/a/b")


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routes") / "routes.yml"
    path.write_text(ROUTES)
    return path


@pytest.fixture(scope="module")
def gateway(fake_n8n: FakeN8n, routes_file: Path) -> Iterator[Gateway]:
    """A single-mode gateway with signed routes in front of the session's fake n8n."""
    gw = Gateway(
        N8N_URL=fake_n8n.url,
        SIDECAR_MODE="single",
        SIDECAR_ROUTES_FILE=routes_file,
        SPELLING_SECRET="s3cret",
    )
    yield gw
    gw.stop()


def governed_by_a_signed_rule(target: str) -> bool:
    """Whether n8n would run a webhook that a signed rule governs for this target."""
    name = n8n_webhook_name(target)
    return name is not None and any(fnmatch.fnmatchcase(name, p) for p in SIGNED_NAMES)


def post_unsigned(gateway: Gateway, fake_n8n: FakeN8n, target: str) -> tuple[int, dict]:
    fake_n8n.reset()
    response = raw_request(gateway.port, "POST", target, b"{}", {"Content-Type": "text/plain"})
    try:
        body = json.loads(response.body)
    except ValueError:
        body = {}
    return response.status, body if isinstance(body, dict) else {}


def assert_not_run_unsigned(gateway: Gateway, fake_n8n: FakeN8n, target: str) -> None:
    status, body = post_unsigned(gateway, fake_n8n, target)
    reached = [r.path + ("?" + r.query if r.query else "") for r in webhooks(fake_n8n)]
    if status == 400 and body.get("error") == "bad_path":
        assert reached == []
    elif status == 401:
        assert body.get("error") == "bad_signature"
        assert reached == []
    elif status == 404 and body.get("error") == "not_found":
        assert reached == []  # not a webhook prefix to the sidecar (e.g. /webhooK/): not served
    else:
        assert not governed_by_a_signed_rule(target), (target, status, body)
        assert all(not governed_by_a_signed_rule(path) for path in reached)


@pytest.mark.parametrize(
    "target",
    [
        "/webhook/github/",
        "/webhook/%67ithub",
        "/webhook/g%69thub/",
        "/webhook/github%2f",
        "/webhook/x/../github",
        "/webhook/%2e/github",
        "/webhook/github#x",
        "/webhook/signed%2fa/b",
        "/webhook/signed/a%2Fb/",
        "/webhook/%73igned/a",
    ],
)
def test_known_spellings_of_a_signed_path_do_not_reach_n8n_unsigned(
    gateway: Gateway, n8n: FakeN8n, target: str
) -> None:
    status, _ = post_unsigned(gateway, n8n, target)
    assert status in (400, 401)
    assert webhooks(n8n) == []  # the gateway's own /healthz probes are not webhooks


def test_bad_path_answer(gateway: Gateway, n8n: FakeN8n) -> None:
    status, body = post_unsigned(gateway, n8n, "/webhook/a/%2e%2e/github")
    assert status == 400
    assert body["error"] == "bad_path" and "dot segment" in body["message"]


def test_options_passes_through_unsigned(gateway: Gateway, n8n: FakeN8n) -> None:
    """A CORS preflight carries no signature; n8n answers it itself without running a
    workflow, so it goes to n8n in every mode."""
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    response = raw_request(gateway.port, "OPTIONS", "/webhook/github", headers=headers)
    assert response.status == 204
    assert [r.method for r in n8n.wait_for(1)] == ["OPTIONS"]


# --- generated spellings ----------------------------------------------------------------

SLASHES = ["/"] * 6 + ["//", "%2f", "%2F", "\\", "%5c", "%5C", "/./", "/%2e/", "/%2E%2e/x/"]
SLASHES += ["/../", "/x/../", "/x/%2e%2e/", ";/", "/;/"]
TAILS = ["", "", "", "/", "//", "/.", "/..", "/%2e", "%2f", "%00", "%0a", "%zz", "%", "%c3"]
TAILS += ["%c3%28", "%ed%a0%80", "%e2%80%8b", "%ef%bc%8f", "%25", "%252f", "#x", "?q=1"]
TAILS += ["?q=/../x", ";x", "%20", "~", "/" + "a" * 2100]


def spell_char(char: str, how: str) -> str:
    """One character of a path: kept, percent-encoded (upper/lower hex), or case-flipped."""
    if how == "encode":
        return f"%{ord(char):02X}"
    if how == "encode-lower":
        return f"%{ord(char):02x}"
    if how == "swapcase":
        return char.swapcase()
    return char


@st.composite
def spellings(draw: st.DrawFn) -> str:
    """A way to write one of SIGNED_PATHS (or something near it) on the request line."""
    path = draw(st.sampled_from(SIGNED_PATHS))
    prefix, rest = "/webhook", path[len("/webhook") :]
    if draw(st.booleans()):  # now and then spell the prefix too
        prefix = "/" + "".join(
            spell_char(c, draw(st.sampled_from(["keep", "keep", "encode-lower", "swapcase"])))
            for c in "webhook"
        )
    out = [prefix]
    for char in rest:
        if char == "/":
            out.append(draw(st.sampled_from(SLASHES)))
        else:
            how = ["keep", "keep", "keep", "encode", "encode-lower", "swapcase"]
            out.append(spell_char(char, draw(st.sampled_from(how))))
    out.append(draw(st.sampled_from(TAILS)))
    return "".join(out)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=spellings())
@example(target="/webhook/github/")
@example(target="/webhook/%67ithub")
def test_no_spelling_of_a_signed_path_reaches_n8n_unsigned(
    gateway: Gateway, fake_n8n: FakeN8n, target: str
) -> None:
    assert_not_run_unsigned(gateway, fake_n8n, target)
