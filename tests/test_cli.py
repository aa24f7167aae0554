"""The CLI as a user runs it: exit codes and one-line messages, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from sidecar.harness.n8n_standin import FakeN8n
from sidecar.harness.ports import free_port
from sidecar.harness.sidecar_processes import ROOT, sidecar_env


def run_cli(*args: str, **settings: object) -> subprocess.CompletedProcess:
    """`python -m sidecar ARGS` with a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env=sidecar_env(**settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_passes_when_n8n_and_redis_answer(n8n: FakeN8n, redis_url: str) -> None:
    result = run_cli("check", N8N_URL=n8n.url, REDIS_URL=redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   n8n:" in result.stdout
    assert "ok   redis: ok" in result.stdout


def test_check_without_redis_is_fine_in_single_mode(n8n: FakeN8n) -> None:
    result = run_cli("check", N8N_URL=n8n.url)
    assert result.returncode == 0
    assert "redis: not configured" in result.stdout


def test_check_fails_with_exit_1_when_n8n_is_down(redis_url: str) -> None:
    result = run_cli("check", N8N_URL=f"http://127.0.0.1:{free_port()}", REDIS_URL=redis_url)
    assert result.returncode == 1
    assert "FAIL n8n:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_check_fails_with_exit_1_when_redis_is_down(n8n: FakeN8n) -> None:
    result = run_cli(
        "check",
        N8N_URL=n8n.url,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        REDIS_MAX_RETRIES=0,
    )
    assert result.returncode == 1
    assert "FAIL redis: Redis is unavailable" in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "check"):
        assert command in result.stdout


def test_the_command_line_starts_without_what_other_subcommands_need() -> None:
    # `serve` and `worker` start every process through the CLI: the dead-letter command's
    # write path, the bench and its harness are imported only when their command runs.
    code = (
        "import sys, sidecar.cli.main; "
        "print(' '.join(m for m in ('sidecar.queues.intake', 'sidecar.bench.cli', "
        "'sidecar.harness', 'sidecar.cli.dlq', 'yaml') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == ""
