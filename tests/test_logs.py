"""Every log line of a sidecar process passes the redacting filter, and /readyz (no login)
names no internal address or error text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import redis

from sidecar.app import create_app
from sidecar.logs import RedactingFilter, known_secrets
from sidecar.settings import load_settings

SECRETS = {
    "REDIS_PASSWORD": "redis-pw-1234",
    "SIDECAR_N8N_API_KEY": "n8n-api-key-5678",
    "SIDECAR_ADMIN_TOKENS": "viewer:view-token-9012",
    "SIDECAR_ALERT_WEBHOOK_URL": "https://hooks.example.com/bot77:SeCrEt/send",
}


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    settings = load_settings(_env_file=None, N8N_URL="http://u:n8n-pw-3456@n8n:5678", **SECRETS)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(known_secrets(settings)))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize("secret", [*SECRETS.values(), "n8n-pw-3456"])
def test_no_known_secret_reaches_a_log_line(lines, secret: str) -> None:
    logger, stream = lines
    logger.info("request failed with %s", f"detail {secret} end")
    assert "detail" in stream.getvalue()
    assert secret not in stream.getvalue()


def test_a_url_password_and_a_traceback_are_masked_too(lines) -> None:
    logger, stream = lines
    try:
        raise RuntimeError("cannot reach redis://:other-pw-42@redis:6379/0")
    except RuntimeError:
        logger.exception("connect failed: %s", "redis://:other-pw-42@redis:6379/0")
    assert "other-pw-42" not in stream.getvalue()
    assert "connect failed: redis://:***@redis:6379/0" in stream.getvalue()


def test_a_known_secret_in_a_traceback_is_masked(lines) -> None:
    logger, stream = lines
    try:
        raise RuntimeError(f"token {SECRETS['SIDECAR_N8N_API_KEY']} refused")
    except RuntimeError:
        logger.exception("calling the n8n API failed")
    assert "RuntimeError: token *** refused" in stream.getvalue()
    assert SECRETS["SIDECAR_N8N_API_KEY"] not in stream.getvalue()


def test_readyz_says_unavailable_without_redis_address_or_error(
    dead_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    port = dead_redis.connection_pool.connection_kwargs["port"]
    settings = load_settings(
        _env_file=None,
        N8N_URL="http://127.0.0.1:9",
        REDIS_URL=f"redis://:pw-secret-77@127.0.0.1:{port}/0",
        SIDECAR_MODE="single",
    )
    answer = create_app(settings).test_client().get("/readyz")

    assert answer.status_code == 503
    assert answer.get_json()["redis"] == "unavailable"
    assert str(port) not in answer.get_data(as_text=True)
    assert any(str(port) in r.getMessage() for r in caplog.records)  # the detail is logged
