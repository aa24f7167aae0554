"""`n8n-sidecar dlq …` as an operator runs it, against real dead letters in real Redis."""

from __future__ import annotations

import json

import pytest
from support.dead_letters import make_dead_letters
from test_cli import run_cli

from sidecar.app import create_app
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import load_settings


@pytest.fixture
def env(n8n: FakeN8n, redis_url: str) -> dict[str, object]:
    return {
        "N8N_URL": n8n.url,
        "REDIS_URL": redis_url,
        "SIDECAR_MODE": "queue",
        "SIDECAR_JOB_ATTEMPTS": 1,
    }


@pytest.fixture
def job_ids(env: dict) -> list[str]:
    settings = load_settings(_env_file=None, **{k: str(v) for k, v in env.items()})
    return make_dead_letters(create_app(settings).test_client(), settings, count=3)


def listing(env: dict) -> dict:
    result = run_cli("dlq", "list", "--json", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_and_show(env: dict, job_ids: list[str]) -> None:
    body = listing(env)
    assert body["total"] == 3
    assert sorted(item["jobId"] for item in body["items"]) == sorted(job_ids)
    text = run_cli("dlq", "list", **env).stdout
    assert text.startswith("3 dead letter(s)")
    first = body["items"][0]
    shown = json.loads(run_cli("dlq", "show", first["id"], **env).stdout)
    assert shown["data"]["path"] == f"/webhook/gone-{job_ids.index(first['jobId'])}"


def test_replay_one_then_all_with_progress(env: dict, job_ids: list[str], n8n: FakeN8n) -> None:
    first = listing(env)["items"][0]
    result = run_cli("dlq", "replay", first["id"], **env)
    assert result.stdout.strip() == f"replayed job {first['jobId']}"
    result = run_cli("dlq", "replay", "--all", "--queue", "webhooks:inbound", **env)
    assert result.returncode == 0
    assert "replayed 2, skipped 0" in result.stdout
    assert "replaying" in result.stderr  # the progress bar
    assert listing(env)["total"] == 0


def test_purge_needs_yes_or_confirmation(env: dict, job_ids: list[str]) -> None:
    refused = run_cli("dlq", "purge", **env)  # no terminal, no --yes: nothing deleted
    assert refused.returncode == 1
    assert listing(env)["total"] == 3
    done = run_cli("dlq", "purge", "--yes", **env)
    assert done.stdout.strip() == "deleted 3 dead letter(s)"
    assert listing(env)["total"] == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("replay",), 2, "error: give either an entry id or --all"),
        (("replay", "abc", "--all"), 2, "error: give either an entry id or --all"),
        (("show", "nope"), 1, "error: no dead letter with id 'nope'"),
        (("list", "--queue", "nope:nope"), 2, "error: unknown queue 'nope:nope'"),
    ],
)
def test_bad_usage_is_one_line(env: dict, args: tuple, code: int, message: str) -> None:
    result = run_cli("dlq", *args, **env)
    assert result.returncode == code
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_without_redis_is_a_config_error(n8n: FakeN8n) -> None:
    result = run_cli("dlq", "list", N8N_URL=n8n.url)
    assert result.returncode == 2
    assert "queue mode needs Redis" in result.stderr


def test_show_and_replay_take_the_original_job_id(env: dict, job_ids: list[str]) -> None:
    shown = json.loads(run_cli("dlq", "show", job_ids[0], **env).stdout)
    assert shown["jobId"] == job_ids[0] and shown["data"]["path"] == "/webhook/gone-0"
    assert shown["id"] != job_ids[0] and shown["redacted"] is False  # the CLI acts as admin
    result = run_cli("dlq", "replay", job_ids[1], **env)
    assert result.stdout.strip() == f"replayed job {job_ids[1]}"
    assert listing(env)["total"] == 2


def test_a_live_jobs_id_is_not_a_dead_letter(env: dict) -> None:
    settings = load_settings(_env_file=None, **{k: str(v) for k, v in env.items()})
    live = create_app(settings).test_client().post("/webhook/waiting", data=b"x").get_json()
    for command in ("show", "replay"):
        result = run_cli("dlq", command, live["jobId"], **env)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: no dead letter with id {live['jobId']!r}")
        assert "Traceback" not in result.stderr
