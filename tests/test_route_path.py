"""The canonical path route rules match: n8n's own resolution, or 400 bad_path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.n8n_paths import n8n_webhook_name

from sidecar.route_path import MAX_PATH_BYTES, BadPath, canonical_path


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/webhook/github", "/webhook/github"),
        ("/webhook/github/", "/webhook/github"),
        ("/webhook/github///", "/webhook/github"),
        ("/webhook/%67ithub", "/webhook/github"),
        ("/webhook/%67%69%74%68%75%62", "/webhook/github"),
        ("/%77ebhook/github", "/webhook/github"),
        ("/webhook/GitHub", "/webhook/GitHub"),  # n8n's lookup is case-sensitive
        ("/webhook/%47ithub", "/webhook/Github"),
        ("/webhook/a//b", "/webhook/a//b"),  # n8n keeps empty segments
        ("/webhook/FAX/", "/webhook/FAX"),  # only slashes are dropped at the end
        ("/webhook/caf%C3%A9", "/webhook/café"),
        ("/webhook/caf%c3%a9", "/webhook/café"),
        ("/webhook/a%20b", "/webhook/a b"),
        ("/webhook/a+b", "/webhook/a+b"),
        ("/webhook/100%25", "/webhook/100%"),
        ("/webhook/%252e%252e", "/webhook/%2e%2e"),  # decoded once, as n8n does
        ("/webhook/a%3Fb%23c", "/webhook/a?b#c"),
        ("/webhook/.../x.y", "/webhook/.../x.y"),
        ("/webhook/a;b=1:c@d!$&'()*,~", "/webhook/a;b=1:c@d!$&'()*,~"),
        ("/", "/"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "/webhook/./github",
        "/webhook/x/../github",
        "/webhook/github/.",
        "/webhook/github/..",
        "/webhook/%2e%2e/github",
        "/webhook/%2E/github",
        "/webhook/.%2e/github",
        "/webhook%2fgithub",
        "/webhook/git%2Fhub",
        "/webhook/git%5chub",
        "/webhook/git%5Chub",
        "/webhook/git\\hub",
        "/webhook/github%00",
        "/webhook/github%0a",
        "/webhook/github%7F",
        "/webhook/github%c2%85",  # U+0085, a C1 control
        "/webhook/github\x00",
        "/webhook/git hub",
        "/webhook/github#x",
        '/webhook/"github"',
        "/webhook/git|hub",
        "/webhook/café",
        "/webhook/github%",
        "/webhook/github%2",
        "/webhook/github%zz",
        "/webhook/%g1thub",
        "/webhook/github%c3",
        "/webhook/github%c3%28",
        "/webhook/github%ed%a0%80",  # an encoded surrogate
        "/webhook/github%c0%af",  # overlong '/'
        "webhook/github",
        "",
        "/webhook/" + "a" * MAX_PATH_BYTES,
    ],
)
def test_ambiguous_paths_are_refused(raw: str) -> None:
    with pytest.raises(BadPath) as refused:
        canonical_path(raw)
    assert refused.value.status == 400
    assert refused.value.body()["error"] == "bad_path"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/" + "a" * MAX_PATH_BYTES, f"the path is longer than {MAX_PATH_BYTES} bytes"),
        ("webhook/x", "the path must start with '/'"),
        ("/webhook/a\\b", "the path holds a backslash, which must be percent-encoded"),
        ("/webhook/a#b", "the path holds '#', which must be percent-encoded"),
        ("/webhook/a\x01b", "the path holds the character U+0001, which must be"),
        ("/webhook/caf\u00e9", "the path holds the character U+00E9, which must be"),
        ("/webhook/a%zz", "the path segment 'a%zz' holds an invalid percent-escape"),
        ("/webhook/%ff", "the path segment '%ff' does not decode to UTF-8"),
        ("/webhook/a%2Fb", "the path segment 'a%2Fb' holds an encoded slash or backslash"),
        ("/webhook/a%01", "the path segment 'a%01' holds an encoded control character"),
        ("/webhook/%2e%2e/x", "the path holds a dot segment ('.' or '..')"),
    ],
)
def test_a_refusal_says_what_is_wrong_with_the_path(raw: str, message: str) -> None:
    with pytest.raises(BadPath) as caught:
        canonical_path(raw)
    assert caught.value.message.startswith(message)
    assert caught.value.body() == {"error": "bad_path", "message": caught.value.message}


def test_longest_path_allowed() -> None:
    raw = "/webhook/" + "a" * (MAX_PATH_BYTES - len("/webhook/"))
    assert canonical_path(raw) == raw


PATH_PIECES = st.sampled_from(
    [
        *("/", "//", "a", "G", "~", ".", "..", "%", "%2e", "%2E", "%2f", "%5c", "%41", "%61"),
        *("%25", "%c3%a9", "%C3%A9", "%c3", "%zz", "%00", "%7f", "+", ";", ":", "@", "%20"),
        *("%3f", "%23", "\\", "#", " "),
    ]
)


@given(st.lists(PATH_PIECES, max_size=12))
def test_an_accepted_path_is_the_webhook_n8n_resolves(pieces: list[str]) -> None:
    raw = "/webhook/" + "".join(pieces)
    try:
        canonical = canonical_path(raw)
    except BadPath:
        return
    name = n8n_webhook_name(raw)
    if name is None:  # '/webhook/' alone: no webhook in n8n either
        assert canonical == "/webhook"
        return
    assert canonical == ("/webhook/" + name).rstrip("/")


def test_a_repeated_path_is_resolved_once_and_a_refused_one_every_time() -> None:
    canonical_path.cache_clear()
    for _ in range(3):
        assert canonical_path("/webhook/%67ithub") == "/webhook/github"
        with pytest.raises(BadPath):
            canonical_path("/webhook/../admin")
    info = canonical_path.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 4, 1)
