"""Settings: every variable of SPEC §3, read once from the environment and `.env`.

This is the only module that reads the environment. `load_settings()` turns pydantic's
validation errors into `ConfigError`, which carries one readable line per problem. A line
never shows a secret: secret settings are not echoed at all, URLs only with their password
and tokens masked (sidecar.redact).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sidecar.errors import ConfigError
from sidecar.redact import redact, redact_url

Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
MOST_PROCESSES = 256  # SIDECAR_GATEWAY_WORKERS at most: a typo must not fork thousands
ROLES = ("viewer", "operator", "admin")
SECRET_SETTINGS = frozenset(
    {
        "REDIS_PASSWORD",
        "REDIS_SENTINEL_PASSWORD",
        "SIDECAR_N8N_API_KEY",
        "SIDECAR_ADMIN_TOKENS",
        "SIDECAR_ENCRYPTION_KEY",
    }
)
SHOWN_CHARS = 60
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _http_url(value: str) -> str:
    """Check that `value` is an absolute http(s) URL and drop its trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value.strip():
        raise ValueError("must be an http:// or https:// URL")
    return value.strip().rstrip("/")


def _split_list(value: object) -> list[str]:
    """Split a comma-separated env value into its non-empty parts."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value or [])  # type: ignore[call-overload]


def _split_pairs(
    value: object, sep: str, valid: Callable[[str, str], bool], problem: str
) -> list[tuple[str, str]]:
    """`a<sep>b,c<sep>d` as [(a, b), (c, d)]; ValueError(problem) for an entry not `valid`."""
    pairs = []
    for item in _split_list(value):
        key, _, rest = item.partition(sep)
        if not valid(key.strip(), rest.strip()):
            raise ValueError(problem)
        pairs.append((key.strip(), rest.strip()))
    return pairs


class Settings(BaseSettings):
    """All sidecar settings; field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True, env_ignore_empty=True
    )

    n8n_url: str = Field("http://localhost:5678", alias="N8N_URL")
    host: str = Field("127.0.0.1", alias="SIDECAR_HOST", min_length=1)
    port: int = Field(8080, alias="SIDECAR_PORT", ge=1, le=65535)
    mode: Literal["single", "queue", "auto"] = Field("auto", alias="SIDECAR_MODE")
    upstream_timeout_seconds: Seconds = Field(300, alias="SIDECAR_UPSTREAM_TIMEOUT_SECONDS")
    gateway_workers: int | Literal["auto"] = Field("auto", alias="SIDECAR_GATEWAY_WORKERS")
    gateway_threads: Count = Field(32, alias="SIDECAR_GATEWAY_THREADS")
    shutdown_grace_seconds: Seconds = Field(30, alias="SIDECAR_SHUTDOWN_GRACE_SECONDS")
    header_timeout_seconds: Seconds = Field(10, alias="SIDECAR_HEADER_TIMEOUT_SECONDS")
    body_timeout_seconds: Seconds = Field(30, alias="SIDECAR_BODY_TIMEOUT_SECONDS")
    max_connections: Count = Field(2000, alias="SIDECAR_MAX_CONNECTIONS")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", alias="SIDECAR_LOG_LEVEL"
    )

    redis_url: str | None = Field(None, alias="REDIS_URL")
    redis_host: str | None = Field(None, alias="REDIS_HOST")
    redis_port: int = Field(6379, alias="REDIS_PORT", ge=1, le=65535)
    redis_password: SecretStr | None = Field(None, alias="REDIS_PASSWORD")
    redis_db: int = Field(0, alias="REDIS_DB", ge=0)
    redis_tls: bool = Field(False, alias="REDIS_TLS")
    redis_max_retries: int = Field(3, alias="REDIS_MAX_RETRIES", ge=0)
    redis_sentinels: Annotated[list[str], NoDecode] = Field([], alias="REDIS_SENTINELS")
    redis_sentinel_master: str = Field("mymaster", alias="REDIS_SENTINEL_MASTER", min_length=1)
    redis_sentinel_username: str | None = Field(None, alias="REDIS_SENTINEL_USERNAME")
    redis_sentinel_password: SecretStr | None = Field(None, alias="REDIS_SENTINEL_PASSWORD")
    redis_tls_ca_file: str | None = Field(None, alias="REDIS_TLS_CA_FILE")
    redis_tls_cert_file: str | None = Field(None, alias="REDIS_TLS_CERT_FILE")
    redis_tls_key_file: str | None = Field(None, alias="REDIS_TLS_KEY_FILE")
    redis_tls_verify_hostname: bool = Field(True, alias="REDIS_TLS_VERIFY_HOSTNAME")
    durable_ack: bool = Field(False, alias="SIDECAR_DURABLE_ACK")
    durable_ack_replicas: int = Field(0, alias="SIDECAR_DURABLE_ACK_REPLICAS", ge=0)
    durable_ack_timeout_seconds: Seconds = Field(2, alias="SIDECAR_DURABLE_ACK_TIMEOUT_SECONDS")

    queue_prefix: str = Field("flrts", alias="SIDECAR_QUEUE_PREFIX", pattern=r"^[A-Za-z0-9_.-]+$")
    threshold_webhooks_per_hour: Seconds = Field(500, alias="SIDECAR_THRESHOLD_WEBHOOKS_PER_HOUR")
    threshold_exec_seconds: Seconds = Field(30, alias="SIDECAR_THRESHOLD_EXEC_SECONDS")
    threshold_memory_percent: float = Field(
        80, alias="SIDECAR_THRESHOLD_MEMORY_PERCENT", gt=0, le=100
    )
    threshold_eventloop_lag_seconds: Seconds = Field(
        0.5, alias="SIDECAR_THRESHOLD_EVENTLOOP_LAG_SECONDS"
    )
    sustain_seconds: Seconds = Field(300, alias="SIDECAR_SUSTAIN_SECONDS")
    cooldown_seconds: Seconds = Field(1800, alias="SIDECAR_COOLDOWN_SECONDS")
    recovery_ratio: float = Field(0.7, alias="SIDECAR_RECOVERY_RATIO", gt=0, lt=1)
    monitor_interval_seconds: Seconds = Field(15, alias="SIDECAR_MONITOR_INTERVAL_SECONDS")
    rate_window_seconds: float = Field(3600, alias="SIDECAR_RATE_WINDOW_SECONDS", ge=1)
    memory_source: Literal["host", "n8n"] = Field("host", alias="SIDECAR_MEMORY_SOURCE")
    n8n_memory_limit_bytes: int | None = Field(None, alias="SIDECAR_N8N_MEMORY_LIMIT_BYTES", gt=0)
    n8n_api_key: SecretStr | None = Field(None, alias="SIDECAR_N8N_API_KEY")
    alert_webhook_url: str | None = Field(None, alias="SIDECAR_ALERT_WEBHOOK_URL")

    job_attempts: Count = Field(3, alias="SIDECAR_JOB_ATTEMPTS")
    job_backoff_seconds: float = Field(2, alias="SIDECAR_JOB_BACKOFF_SECONDS", ge=0)
    keep_completed_seconds: Seconds = Field(3600, alias="SIDECAR_KEEP_COMPLETED_SECONDS")
    keep_completed_count: int = Field(100, alias="SIDECAR_KEEP_COMPLETED_COUNT", ge=0)
    keep_failed_seconds: Seconds = Field(86400, alias="SIDECAR_KEEP_FAILED_SECONDS")
    keep_failed_count: int = Field(500, alias="SIDECAR_KEEP_FAILED_COUNT", ge=0)
    dlq_max_entries: Count = Field(10_000, alias="SIDECAR_DLQ_MAX_ENTRIES")
    dlq_max_age_seconds: Seconds = Field(7 * 86400, alias="SIDECAR_DLQ_MAX_AGE_SECONDS")
    dlq_unregistered_per_hour: int = Field(10, alias="SIDECAR_DLQ_UNREGISTERED_PER_HOUR", ge=0)
    worker_concurrency: Count = Field(10, alias="SIDECAR_WORKER_CONCURRENCY")
    worker_limit_max: Count = Field(100, alias="SIDECAR_WORKER_LIMIT_MAX")
    worker_limit_duration_seconds: Seconds = Field(
        60, alias="SIDECAR_WORKER_LIMIT_DURATION_SECONDS"
    )
    max_outage_seconds: Seconds = Field(6 * 3600, alias="SIDECAR_MAX_OUTAGE_SECONDS")
    pace_adaptive: bool = Field(True, alias="SIDECAR_PACE_ADAPTIVE")
    pace_target_seconds: Seconds = Field(1.0, alias="SIDECAR_PACE_TARGET_SECONDS")
    max_waiting: int = Field(100_000, alias="SIDECAR_MAX_WAITING", ge=0)
    max_redis_memory_percent: float = Field(
        95, alias="SIDECAR_MAX_REDIS_MEMORY_PERCENT", gt=0, le=100
    )
    lock_seconds: Seconds = Field(30, alias="SIDECAR_LOCK_SECONDS")
    stalled_interval_seconds: Seconds = Field(30, alias="SIDECAR_STALLED_INTERVAL_SECONDS")
    max_stalled_count: int = Field(2, alias="SIDECAR_MAX_STALLED_COUNT", ge=0)
    dedup_ttl_seconds: Seconds = Field(3600, alias="SIDECAR_DEDUP_TTL_SECONDS")
    user_rate_limit: Count = Field(10, alias="SIDECAR_USER_RATE_LIMIT")
    user_rate_window_seconds: Seconds = Field(60, alias="SIDECAR_USER_RATE_WINDOW_SECONDS")
    max_body_bytes: Count = Field(16 * 1024 * 1024, alias="SIDECAR_MAX_BODY_BYTES")
    routes_file: str | None = Field(None, alias="SIDECAR_ROUTES_FILE")
    admin_tokens: Annotated[dict[str, str], NoDecode] = Field({}, alias="SIDECAR_ADMIN_TOKENS")
    session_secret: SecretStr | None = Field(None, alias="SIDECAR_SESSION_SECRET")
    typed_paths: Annotated[dict[str, str], NoDecode] = Field({}, alias="SIDECAR_TYPED_PATHS")
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        [], alias="SIDECAR_ENCRYPTION_KEY"
    )
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = Field(
        (), alias="SIDECAR_TRUSTED_PROXIES"
    )

    @field_validator("n8n_url", "alert_webhook_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None

    @field_validator("gateway_workers", mode="before")
    @classmethod
    def _processes(cls, value: object) -> int | str:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MOST_PROCESSES:
            raise ValueError(f"must be a number of processes (1 to {MOST_PROCESSES}) or auto")
        return int(text)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinels(cls, value: object) -> list[str]:
        hosts = _split_list(value)
        for item in hosts:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"each sentinel must be host:port, got {item!r}")
        return hosts

    @field_validator("admin_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        pairs = _split_pairs(
            value,
            ":",
            lambda role, token: role in ROLES and bool(token),
            "each entry must be role:token with role viewer|operator|admin",
        )
        return {token: role for role, token in pairs}

    @field_validator("typed_paths", mode="before")
    @classmethod
    def _paths(cls, value: object) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        pairs = _split_pairs(
            value,
            "=",
            lambda op, path: bool(op) and path.startswith("/"),
            "each entry must be operation=/path, e.g. tasks:create=/webhook/x",
        )
        return dict(pairs)

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> list[str]:
        keys = _split_list(value)
        for key in keys:
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ValueError(
                    "each key must be a Fernet key (32 url-safe base64 bytes)"
                ) from None
        return keys

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> tuple[Network, ...]:
        if not isinstance(value, str):
            return tuple(value or ())  # type: ignore[arg-type]
        networks, problems = [], []
        for entry in _split_list(value):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                problems.append(f"{entry!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)")
        if problems:
            raise ValueError("\n".join(problems))  # one line each (see _describe)
        return tuple(networks)

    @model_validator(mode="after")
    def _memory_budget(self) -> Settings:
        if self.memory_source == "n8n" and not self.n8n_memory_limit_bytes:
            raise ValueError(
                "SIDECAR_N8N_MEMORY_LIMIT_BYTES is required when SIDECAR_MEMORY_SOURCE=n8n"
            )
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if bool(self.redis_tls_cert_file) != bool(self.redis_tls_key_file):
            raise ValueError(
                "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together (a client certificate)"
            )
        return self

    @model_validator(mode="after")
    def _queue_needs_redis(self) -> Settings:
        if self.mode == "queue" and not self.redis_configured:
            raise ValueError(
                "SIDECAR_MODE=queue needs Redis: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS"
            )
        return self

    @property
    def redis_configured(self) -> bool:
        """True when any way of reaching Redis is configured."""
        return bool(self.redis_url or self.redis_host or self.redis_sentinels)

    @property
    def redis_uses_tls(self) -> bool:
        """True when the connection to Redis is TLS: REDIS_TLS or a rediss:// URL."""
        return self.redis_tls or bool(self.redis_url and self.redis_url.startswith("rediss://"))


def read_secret(name: str) -> str | None:
    """The value of environment variable `name` (a secret a routes file refers to by name)."""
    return os.environ.get(name) or None


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise ConfigError with one line per problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError([line for err in exc.errors() for line in _describe(err)]) from None


def _describe(error: dict) -> list[str]:
    """The lines for one pydantic error, each naming the environment variable; a message of
    several lines (one per bad list entry) gives several lines."""
    name = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not name:  # a rule across several variables: the message names them
        return message.splitlines()
    if "\n" in message:
        return [f"{name}: {line}" for line in message.splitlines()]
    return [f"{name}: {message}{_shown(name, error.get('input'))}"]


def _shown(name: str, given: object) -> str:
    """` (got '…')` for a bad value, never showing a secret."""
    if isinstance(given, dict) or given is None or name in SECRET_SETTINGS:
        return ""
    text = str(given)
    if name == "SIDECAR_ALERT_WEBHOOK_URL":  # its path and query are the secret (bot tokens)
        text = redact_url(text, keep_path=False)
    return f" (got {redact(text)[:SHOWN_CHARS]!r})"
