"""The event loop's Redis client (ADR-007): a `redis.asyncio` twin of the sync client
connect() made, with the same address, credentials, TLS and timeouts, for the gateway's hot
path (the intake's one round trip). Sentinel-managed clients have no twin (None): their
callers keep the sync client in a worker thread."""

from __future__ import annotations

import logging

import redis
import redis.asyncio as aredis
from redis.asyncio import connection as aconnection
from redis.asyncio.retry import Retry as AsyncRetry

log = logging.getLogger("sidecar.backend")

CONNECTION_CLASSES: dict[type, type] = {
    redis.Connection: aconnection.Connection,
    redis.SSLConnection: aconnection.SSLConnection,
    redis.UnixDomainSocketConnection: aconnection.UnixDomainSocketConnection,
}
SYNC_ONLY = (
    "retry",
    "retry_on_error",
    "health_check_interval",
    "ssl_ocsp_context",
    "ssl_ocsp_expected_cert",
    "ssl_validate_ocsp",
    "ssl_validate_ocsp_stapled",
    "ssl_password",
    "ssl_min_version",
    "ssl_ciphers",
)


def async_twin(client: redis.Redis) -> aredis.Redis | None:
    """A redis.asyncio client to the same server as `client`, or None (Sentinel, or an
    option the asyncio client does not take)."""
    pool = client.connection_pool
    if type(pool) is not redis.ConnectionPool:
        return None
    connection_class = CONNECTION_CLASSES.get(pool.connection_class)
    if connection_class is None:
        return None
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in SYNC_ONLY}
    sync_retry = pool.connection_kwargs.get("retry")
    if sync_retry is not None:
        kwargs["retry"] = AsyncRetry(sync_retry._backoff, sync_retry._retries)
        kwargs["retry_on_error"] = [redis.ConnectionError, redis.TimeoutError]
    try:
        async_pool = aredis.ConnectionPool(connection_class=connection_class, **kwargs)
        async_pool.make_connection()  # refuses unknown options now, not per request
    except TypeError as exc:
        log.warning("no asyncio Redis client (%s): the intake runs in worker threads", exc)
        return None
    return aredis.Redis(connection_pool=async_pool)
