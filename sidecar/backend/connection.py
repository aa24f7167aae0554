"""The Redis connection, built from settings: URL, the seed's fields, or Sentinel.

TLS (a rediss:// URL or REDIS_TLS=true) verifies the server's certificate against
REDIS_TLS_CA_FILE (else the system's CAs) and its host name unless
REDIS_TLS_VERIFY_HOSTNAME=false; REDIS_TLS_CERT_FILE/KEY_FILE present a client
certificate. Sentinels are asked with REDIS_SENTINEL_USERNAME/PASSWORD when set.

Reconnects back off as the seed's ioredis `retryStrategy`: min(times x 50 ms, 2 s), at most
REDIS_MAX_RETRIES times per command. `translate()` turns redis errors into
BackendUnavailable where they enter, so callers handle one exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import AbstractBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from sidecar.errors import BackendUnavailable, ConfigError
from sidecar.settings import Settings

SOCKET_TIMEOUT_SECONDS = 5.0
REFUSALS = (redis.exceptions.OutOfMemoryError, redis.exceptions.MasterDownError)


class LinearBackoff(AbstractBackoff):
    """min(failures x step, cap) seconds — ioredis' retryStrategy from the seed."""

    def __init__(self, step: float = 0.05, cap: float = 2.0) -> None:
        self.step, self.cap = step, cap

    def reset(self) -> None:
        """Nothing to reset: the delay depends only on the failure count."""

    def compute(self, failures: int) -> float:
        """Delay before retry number `failures`."""
        return min(failures * self.step, self.cap)


def _common(settings: Settings) -> dict:
    """Client options shared by every way of connecting."""
    return {
        "retry": Retry(LinearBackoff(), settings.redis_max_retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        "health_check_interval": 30,
    }


def tls_options(settings: Settings, enabled: bool) -> dict:
    """redis-py's ssl_* options for a TLS connection (none when not `enabled`)."""
    if not enabled:
        return {}
    return {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": settings.redis_tls_verify_hostname,
        "ssl_ca_certs": settings.redis_tls_ca_file,
        "ssl_certfile": settings.redis_tls_cert_file,
        "ssl_keyfile": settings.redis_tls_key_file,
    }


def sentinel_options(settings: Settings) -> dict:
    """How to talk to the sentinels themselves (their own credentials, no TLS)."""
    secret = settings.redis_sentinel_password
    options: dict = {"socket_timeout": SOCKET_TIMEOUT_SECONDS}
    if secret is not None:
        options["password"] = secret.get_secret_value()
    if settings.redis_sentinel_username:
        options["username"] = settings.redis_sentinel_username
    return options


def connect(settings: Settings) -> redis.Redis:
    """A client for the configured Redis; ConfigError when none is configured."""
    options = _common(settings)
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    tls = tls_options(settings, settings.redis_tls)
    if settings.redis_sentinels:
        nodes = [(h, int(p)) for h, _, p in (s.rpartition(":") for s in settings.redis_sentinels)]
        sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_options(settings))
        return sentinel.master_for(
            settings.redis_sentinel_master,
            password=password,
            db=settings.redis_db,
            ssl=settings.redis_tls,
            **tls,
            **options,
        )
    if settings.redis_url:
        tls = tls_options(settings, settings.redis_uses_tls)
        if tls and not settings.redis_url.startswith("rediss://"):
            options["connection_class"] = redis.SSLConnection  # REDIS_TLS with redis://
        return redis.Redis.from_url(settings.redis_url, **tls, **options)
    if settings.redis_host:
        return redis.Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            password=password,
            db=settings.redis_db,
            ssl=settings.redis_tls,
            **tls,
            **options,
        )
    raise ConfigError(
        ["REDIS_URL: queue mode needs Redis (REDIS_URL, REDIS_HOST or REDIS_SENTINELS)"]
    )


@contextmanager
def translate() -> Iterator[None]:
    """Turn redis connection and server errors into BackendUnavailable."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
        raise BackendUnavailable(f"Redis is unavailable: {exc}") from None
    except REFUSALS as exc:  # redis-py strips the error code from these messages
        raise BackendUnavailable(f"Redis refused the command: {exc}") from None
    except redis.ResponseError as exc:
        if str(exc).startswith(
            ("LOADING", "MASTERDOWN", "OOM", "MISCONF", "NOAUTH", "WRONGPASS", "NOREPLICAS")
        ):
            raise BackendUnavailable(f"Redis refused the command: {exc}") from None
        raise


def ping(client: redis.Redis) -> tuple[bool, str]:
    """(ok, detail) for a health check."""
    try:
        with translate():
            client.ping()
    except BackendUnavailable as exc:
        return False, str(exc)
    return True, "ok"
