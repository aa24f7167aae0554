"""One evaluator at a time: a Redis lock with a TTL, renewed by its holder.

Key layout: KeySchema.mode_evaluator (`sidecar:mode:evaluator`) holds the holder's token
(SET NX PX). The holder renews it on every monitor tick; a gateway that dies stops
renewing, the key expires after `ttl_seconds` and the next gateway to tick takes over.
Writes of a decision check the token inside their transaction (store.py), so a holder
whose lock lapsed cannot overwrite the new evaluator's work.
"""

from __future__ import annotations

import math
import os
import secrets

import redis
from redis.client import Pipeline

from sidecar.backend.connection import translate


def as_text(value: bytes | str | None) -> str | None:
    """A Redis reply as text (clients may or may not decode responses)."""
    return value.decode() if isinstance(value, bytes) else value


class EvaluatorLock:
    """The evaluator lock. Parameters: `client`, `ttl_seconds` (how long a dead holder keeps
    it), `key` (KeySchema.mode_evaluator), `token` (this
    holder's identity; a random one when None)."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: float,
        key: str,
        token: str | None = None,
    ) -> None:
        self.client, self.key = client, key
        self.ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        self.token = token or f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(6)}"

    def acquire(self) -> bool:
        """Take the lock, or renew it when already held; False when another holds it."""
        with translate():
            if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                return True
            return bool(self.client.transaction(self._renew, self.key, value_from_callable=True))

    def release(self) -> None:
        """Give the lock up (only if still ours), so another gateway takes over at once."""
        with translate():
            self.client.transaction(self._delete, self.key)

    def holder(self) -> str | None:
        """The token of the current holder, None when nobody holds it."""
        with translate():
            return as_text(self.client.get(self.key))

    def _renew(self, pipe: Pipeline) -> bool:
        """Inside WATCH: extend the TTL if the lock is ours."""
        if as_text(pipe.get(self.key)) != self.token:
            return False
        pipe.multi()
        pipe.pexpire(self.key, self.ttl_ms)
        return True

    def _delete(self, pipe: Pipeline) -> None:
        """Inside WATCH: delete the lock if it is ours."""
        if as_text(pipe.get(self.key)) == self.token:
            pipe.multi()
            pipe.delete(self.key)


class LocalLock:
    """The lock of a gateway without Redis: it is the only evaluator it knows of."""

    token: str | None = None

    def acquire(self) -> bool:
        """Always held."""
        return True

    def release(self) -> None:
        """Nothing to release."""

    def holder(self) -> str | None:
        """This process."""
        return "local"
