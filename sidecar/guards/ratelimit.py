"""Per-user, per-operation rate limit: a moving window shared by every gateway.

The window is checked and counted by sidecar/backend/lua/ingest.lua, in the same round trip as the
dedup claim and the store (it replaced the `limits` library's MovingWindowRateLimiter,
which needed a round trip of its own). Each (queue, rule, user) has a Redis list of
admission times, newest first, at most `limit` long, expiring a window after the last
admission. A webhook is refused while the `limit`-th newest admission is still inside the
window, with a Retry-After of the whole seconds until it leaves. Times are Redis server
time, so gateways with skewed clocks agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.backend.keys import keys_for_queue
from sidecar.routes import RateLimit


@dataclass(frozen=True)
class UserWindow:
    """The moving window of `user` on `queue` under `rule`."""

    queue: str
    user: str
    rule: RateLimit

    @property
    def key(self) -> str:
        """Its Redis list; a changed rule starts afresh, as with `limits`."""
        window = f"{self.rule.limit}/{self.rule.window}"
        return keys_for_queue(self.queue).ratelimit(self.queue, window, self.user)
