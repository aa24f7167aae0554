"""Settings: defaults from SPEC §3, and one clear line per bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from sidecar.errors import ConfigError
from sidecar.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Run each test without the caller's sidecar variables or .env."""
    import os

    for name in list(os.environ):
        if name.startswith(("SIDECAR_", "REDIS_", "N8N_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_follow_the_spec() -> None:
    s = load_settings()
    assert s.n8n_url == "http://localhost:5678"
    assert (s.host, s.port, s.mode) == ("127.0.0.1", 8080, "auto")
    assert s.upstream_timeout_seconds == 300
    assert s.queue_prefix == "flrts"
    assert (s.threshold_webhooks_per_hour, s.threshold_exec_seconds) == (500, 30)
    assert (s.threshold_memory_percent, s.sustain_seconds, s.cooldown_seconds) == (80, 300, 1800)
    assert (s.job_attempts, s.job_backoff_seconds) == (3, 2)
    assert (s.keep_completed_seconds, s.keep_completed_count) == (3600, 100)
    assert (s.keep_failed_seconds, s.keep_failed_count) == (86400, 500)
    assert (s.worker_limit_max, s.worker_limit_duration_seconds) == (100, 60)
    assert (s.lock_seconds, s.stalled_interval_seconds, s.max_stalled_count) == (30, 30, 2)
    assert s.max_body_bytes == 16777216
    assert (s.dlq_max_entries, s.dlq_max_age_seconds, s.dlq_unregistered_per_hour) == (
        10_000,
        7 * 86400,
        10,
    )
    assert s.redis_configured is False
    assert s.redis_sentinel_master == "mymaster"


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("SIDECAR_PORT=9000\nN8N_URL=http://n8n:5678/\nREDIS_HOST=r\n")
    monkeypatch.setenv("SIDECAR_MODE", "queue")
    s = load_settings()
    assert (s.port, s.mode, s.n8n_url, s.redis_host) == (9000, "queue", "http://n8n:5678", "r")


def test_queue_mode_without_redis_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_MODE", "queue")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "SIDECAR_MODE=queue needs Redis: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS"
    ]


def test_lists_and_maps_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("REDIS_SENTINELS", "s1:26379, s2:26380")
    monkeypatch.setenv("SIDECAR_ADMIN_TOKENS", "viewer:abc,admin:xyz")
    monkeypatch.setenv("SIDECAR_ENCRYPTION_KEY", key)
    s = load_settings()
    assert s.redis_sentinels == ["s1:26379", "s2:26380"]
    assert s.admin_tokens == {"abc": "viewer", "xyz": "admin"}
    assert [k.get_secret_value() for k in s.encryption_keys] == [key]
    assert s.redis_configured


def test_typed_paths_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_TYPED_PATHS", "tasks:create=/webhook/op-api, notify=/webhook/tg")
    assert load_settings().typed_paths == {
        "tasks:create": "/webhook/op-api",
        "notify": "/webhook/tg",
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SIDECAR_PORT", "abc", "SIDECAR_PORT: Input should be a valid integer"),
        ("SIDECAR_PORT", "70000", "SIDECAR_PORT: Input should be less than or equal to 65535"),
        ("SIDECAR_MODE", "fast", "SIDECAR_MODE: Input should be 'single', 'queue' or 'auto'"),
        ("N8N_URL", "not a url", "N8N_URL: must be an http:// or https:// URL"),
        ("N8N_URL", "ftp://x", "N8N_URL: must be an http:// or https:// URL"),
        ("REDIS_URL", "http://x", "REDIS_URL: must start with redis://, rediss:// or unix://"),
        ("REDIS_SENTINELS", "a,b:1", "REDIS_SENTINELS: each sentinel must be host:port"),
        ("SIDECAR_ADMIN_TOKENS", "root:abc", "SIDECAR_ADMIN_TOKENS: each entry must be role:token"),
        (
            "SIDECAR_TYPED_PATHS",
            "tasks:create=webhook/x",
            "SIDECAR_TYPED_PATHS: each entry must be",
        ),
        ("SIDECAR_ENCRYPTION_KEY", "nope", "SIDECAR_ENCRYPTION_KEY: each key must be a Fernet key"),
        ("SIDECAR_RECOVERY_RATIO", "1.5", "SIDECAR_RECOVERY_RATIO: Input should be less than 1"),
        (
            "SIDECAR_JOB_ATTEMPTS",
            "0",
            "SIDECAR_JOB_ATTEMPTS: Input should be greater than or equal to 1",
        ),
        ("SIDECAR_QUEUE_PREFIX", "a b", "SIDECAR_QUEUE_PREFIX: String should match pattern"),
        ("REDIS_TLS", "maybe", "REDIS_TLS: Input should be a valid boolean"),
        (
            "SIDECAR_DLQ_MAX_ENTRIES",
            "0",
            "SIDECAR_DLQ_MAX_ENTRIES: Input should be greater than or equal to 1",
        ),
        (
            "SIDECAR_DLQ_MAX_AGE_SECONDS",
            "0",
            "SIDECAR_DLQ_MAX_AGE_SECONDS: Input should be greater than 0",
        ),
        (
            "SIDECAR_DLQ_UNREGISTERED_PER_HOUR",
            "-1",
            "SIDECAR_DLQ_UNREGISTERED_PER_HOUR: Input should be greater than or equal to 0",
        ),
        ("SIDECAR_MAX_OUTAGE_SECONDS", "0", "SIDECAR_MAX_OUTAGE_SECONDS: Input should be greater"),
        ("SIDECAR_PACE_TARGET_SECONDS", "-1", "SIDECAR_PACE_TARGET_SECONDS: Input should be"),
        ("SIDECAR_MAX_WAITING", "-1", "SIDECAR_MAX_WAITING: Input should be greater than or equal"),
        ("SIDECAR_MAX_REDIS_MEMORY_PERCENT", "101", "SIDECAR_MAX_REDIS_MEMORY_PERCENT: Input"),
        (
            "SIDECAR_PACE_ADAPTIVE",
            "maybe",
            "SIDECAR_PACE_ADAPTIVE: Input should be a valid boolean",
        ),
        ("SIDECAR_HEADER_TIMEOUT_SECONDS", "abc", "SIDECAR_HEADER_TIMEOUT_SECONDS: Input should"),
        ("SIDECAR_BODY_TIMEOUT_SECONDS", "0", "SIDECAR_BODY_TIMEOUT_SECONDS: Input should be"),
        ("SIDECAR_MAX_CONNECTIONS", "0", "SIDECAR_MAX_CONNECTIONS: Input should be greater"),
        ("SIDECAR_GATEWAY_WORKERS", "0", "SIDECAR_GATEWAY_WORKERS: must be a number of"),
        ("SIDECAR_GATEWAY_WORKERS", "many", "SIDECAR_GATEWAY_WORKERS: must be a number of"),
        ("SIDECAR_GATEWAY_WORKERS", "²", "SIDECAR_GATEWAY_WORKERS: must be a number of"),
        ("SIDECAR_GATEWAY_WORKERS", "20000", "SIDECAR_GATEWAY_WORKERS: must be a number of"),
    ],
)
def test_each_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_ENCRYPTION_KEY", "super-secret-value")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "super-secret-value" not in caught.value.problems[0]


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("REDIS_URL", "http://:Sup3rSecretPw@redis:6379/0", "Sup3rSecretPw"),
        ("REDIS_URL", "redis://user:Sup3rSecretPw@redis:port/0", "Sup3rSecretPw"),
        ("N8N_URL", "ftp://admin:Sup3rSecretPw@n8n:5678", "Sup3rSecretPw"),
        ("SIDECAR_ALERT_WEBHOOK_URL", "hooks.example.com/bot1:Sup3rSecretPw/x", "Sup3rSecretPw"),
    ],
)
def test_urls_in_errors_show_no_password_or_token(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, secret: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [line] = caught.value.problems
    assert line.startswith(f"{name}: ")
    assert secret not in line and secret not in str(caught.value)


def test_trusted_proxies_are_networks_and_each_bad_entry_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIDECAR_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,fd00::/8")
    assert [str(n) for n in load_settings().trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    monkeypatch.setenv("SIDECAR_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local,10.1.2.3/40")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "SIDECAR_TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR network "
        "(e.g. 10.0.0.0/8)",
        "SIDECAR_TRUSTED_PROXIES: '10.1.2.3/40' is not an IP address or CIDR network "
        "(e.g. 10.0.0.0/8)",
    ]


def test_n8n_memory_source_needs_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_MEMORY_SOURCE", "n8n")
    with pytest.raises(ConfigError, match="SIDECAR_N8N_MEMORY_LIMIT_BYTES is required"):
        load_settings()


def run_check(env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    """`python -m sidecar check` with exactly `env`, in `cwd`."""
    command = [sys.executable, "-m", "sidecar", "check"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_error_line_shows_no_redis_password(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": "http://:Sup3rSecretPw@redis:6379/0"}
    result = run_check(env, tmp_path)
    assert result.returncode == 2
    assert "REDIS_URL: must start with redis://" in result.stderr
    assert "Sup3rSecretPw" not in result.stderr + result.stdout


def test_cli_reports_every_problem_and_exits_2(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SIDECAR_PORT": "abc",
        "SIDECAR_MODE": "fast",
        "N8N_URL": "not a url",
    }
    result = run_check(env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines[0] == "configuration error:"
    assert {line.split(":")[0] for line in lines[1:]} == {"SIDECAR_PORT", "SIDECAR_MODE", "N8N_URL"}
