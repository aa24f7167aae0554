"""The routes file: parsing, matching order, and one clear line per bad rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.routes import load_routes
from sidecar.settings import load_settings

GOOD = """
- match: /webhook/telegram/*
  queue: telegram:command
  dedup_key: body.update_id
  user_key: body.message.from.id
  rate_limit: 20/60
- match: /webhook/sync-*
  sync: true
- match: /webhook/github
  queue: flrts:openproject:webhook
  hmac: {secret_env: GH_SECRET, header: X-Hub-Signature-256, prefix: "sha256="}
- match: /webhook/gitlab
  secret: {env: GL_SECRET, header: X-Gitlab-Token}
"""


def routes_from(tmp_path: Path, text: str, name: str = "routes.yml"):
    path = tmp_path / name
    path.write_text(text)
    return load_routes(load_settings(_env_file=None, SIDECAR_ROUTES_FILE=str(path)))


def test_rules_match_in_order_with_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GH_SECRET", "s")
    monkeypatch.setenv("GL_SECRET", "g")
    routes = routes_from(tmp_path, GOOD)
    telegram = routes.for_path("/webhook/telegram/bot1")
    assert routes.queue_of(telegram) == "flrts:telegram:command"
    assert (telegram.rate_limit.limit, telegram.rate_limit.window) == (20, 60)
    assert routes.for_path("/webhook/sync-orders").sync is True
    github = routes.for_path("/webhook/github")
    assert routes.queue_of(github) == "flrts:openproject:webhook"
    assert github.hmac.algorithm == "sha256" and github.hmac.encoding == "hex"
    gitlab = routes.for_path("/webhook/gitlab")
    assert (gitlab.secret.env, gitlab.secret.header) == ("GL_SECRET", "X-Gitlab-Token")
    assert github.secret is None
    other = routes.for_path("/webhook/other")
    assert (routes.queue_of(other), other.sync, other.hmac) == (
        "flrts:webhooks:inbound",
        False,
        None,
    )


def test_each_rule_is_matched_with_its_queue_resolved_when_the_routes_load(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("GH_SECRET", "s")
    monkeypatch.setenv("GL_SECRET", "g")
    routes = routes_from(tmp_path, GOOD)
    assert [route.queue for route in routes.routes] == [routes.queue_of(r) for r in routes.rules]
    telegram = routes.match("/webhook/telegram/bot1")
    assert (telegram.rule, telegram.queue) == (
        routes.for_path("/webhook/telegram/bot1"),
        "flrts:telegram:command",
    )
    assert routes.match("/webhook/telegram/bot1") is telegram  # nothing resolved per webhook
    assert routes.match("/webhook/other").queue == "flrts:webhooks:inbound"


def test_json_routes_file(tmp_path: Path) -> None:
    routes = routes_from(
        tmp_path, json.dumps([{"match": "/webhook/a", "queue": "tasks:create"}]), "routes.json"
    )
    assert routes.queue_of(routes.for_path("/webhook/a")) == "flrts:tasks:create"


def test_no_routes_file_means_defaults() -> None:
    routes = load_routes(load_settings(_env_file=None))
    assert routes.queue_of(routes.for_path("/webhook/x")) == "flrts:webhooks:inbound"


def test_every_bad_rule_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    bad = """
- match: /webhook/a
  queue: nope:nope
- match: /webhook/b
  rate_limit: lots
- match: /webhook/c
  colour: blue
- match: /webhook/d
  hmac: {secret_env: NOPE_SECRET, header: X-Sig}
- queue: tasks:create
- match: /webhook/f
  secret: {env: NOPE_SECRET, header: X-Gitlab-Token}
- match: /webhook/g
  secret: {header: X-Gitlab-Token}
"""
    with pytest.raises(ConfigError) as caught:
        routes_from(tmp_path, bad)
    problems = caught.value.problems
    assert problems[0].startswith(
        "SIDECAR_ROUTES_FILE rule 1 (/webhook/a): unknown queue 'nope:nope'"
    )
    assert problems[1].startswith("SIDECAR_ROUTES_FILE rule 2 (/webhook/b): rate_limit: must be")
    assert (
        problems[2]
        == "SIDECAR_ROUTES_FILE rule 3 (/webhook/c): colour: Extra inputs are not permitted"
    )
    assert problems[3] == (
        "SIDECAR_ROUTES_FILE rule 4 (/webhook/d): hmac.secret_env: environment "
        "variable NOPE_SECRET is not set"
    )
    assert problems[4] == "SIDECAR_ROUTES_FILE rule 5: match: Field required"
    assert problems[5] == (
        "SIDECAR_ROUTES_FILE rule 6 (/webhook/f): secret.env: environment "
        "variable NOPE_SECRET is not set"
    )
    assert problems[6] == "SIDECAR_ROUTES_FILE rule 7 (/webhook/g): secret.env: Field required"
    assert len(problems) == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("match: /x", "SIDECAR_ROUTES_FILE: must hold a list of rules"),
        ("- match: [unclosed", "SIDECAR_ROUTES_FILE: "),
    ],
)
def test_unusable_files_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        routes_from(tmp_path, text)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, SIDECAR_ROUTES_FILE=str(tmp_path / "none.yml"))
    with pytest.raises(ConfigError) as caught:
        load_routes(settings)
    assert caught.value.problems == [
        f"SIDECAR_ROUTES_FILE: cannot read {tmp_path}/none.yml: No such file or directory"
    ]


def test_a_match_ending_with_a_slash_is_refused(tmp_path: Path) -> None:
    """Paths are matched without their trailing slash, so such a rule could never apply."""
    with pytest.raises(ConfigError) as caught:
        routes_from(tmp_path, "- match: /webhook/github/\n  sync: true\n")
    assert caught.value.problems == [
        "SIDECAR_ROUTES_FILE rule 1 (/webhook/github/): match: must not end with '/': "
        "paths are matched without their trailing slash"
    ]
