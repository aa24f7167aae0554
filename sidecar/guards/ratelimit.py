"""Per-user, per-operation rate limit: a moving window shared by every gateway (`limits`)."""

from __future__ import annotations

import math
import time

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from sidecar.errors import RateLimited
from sidecar.queues.connection import translate
from sidecar.routes import RateLimit


class UserRateLimiter:
    """`limit` webhooks per `window` seconds per (queue, user). Parameters: `client`, and the
    default RateLimit from settings."""

    def __init__(self, client: redis.Redis, default: RateLimit) -> None:
        storage = RedisStorage(
            "redis://", connection_pool=client.connection_pool, key_prefix="sidecar:ratelimit"
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self.default = default

    def hit(self, queue: str, user: str, rule: RateLimit | None = None) -> None:
        """Count one webhook of `user` on `queue`; RateLimited with an accurate Retry-After."""
        limit = rule or self.default
        item = RateLimitItemPerSecond(limit.limit, limit.window)
        with translate():
            if self.limiter.hit(item, queue, user):
                return
            reset_at, _remaining = self.limiter.get_window_stats(item, queue, user)
        raise RateLimited(max(1, math.ceil(reset_at - time.time())))
