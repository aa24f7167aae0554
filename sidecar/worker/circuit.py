"""The n8n circuit, shared by every worker and gateway through Redis.

Closed: deliveries go out. A delivery that cannot reach n8n (connection refused, connect
timeout, cut before the request was written; or reset after it) opens it:
KeySchema.n8n_circuit holds when and why. While open, workers take no job (held jobs keep
their attempts: see record.lua's `hold`) and one probe at a time — whoever wins
KeySchema.n8n_probe, which expires after the current backoff (doubling, capped) — asks
n8n's readiness check. When n8n is ready the prober closes the circuit and stamps
KeySchema.n8n_recovered; workers then restart their pace at its floor (pace.py), a ramp.
Past SIDECAR_MAX_OUTAGE_SECONDS the circuit is `expired`: workers take held jobs again and
dead-letter them with OUTAGE_ERROR.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from sidecar.backend.keys import KeySchema

PROBE_FIRST_SECONDS = 0.5
PROBE_MAX_SECONDS = 5.0
OUTAGE_ERROR = "n8n unreachable for longer than SIDECAR_MAX_OUTAGE_SECONDS"
VIEW_SECONDS = 1.0


@dataclass(frozen=True)
class CircuitState:
    """What the circuit is now: `open`, since `opened_at` (unix s), why, probes so far."""

    open: bool
    opened_at: float = 0.0
    reason: str = ""
    probes: int = 0

    def outage_seconds(self, now: float) -> float:
        """How long n8n has been unreachable (0 while closed)."""
        return max(0.0, now - self.opened_at) if self.open else 0.0


def probe_backoff(probes: int) -> float:
    """Seconds before the next probe after `probes` failed ones: doubling, capped."""
    return min(PROBE_MAX_SECONDS, PROBE_FIRST_SECONDS * 2 ** min(probes, 16))


class Circuit:
    """The shared circuit. Parameters: `client` (Redis), `keys` (the key schema), `clock`
    (unix seconds)."""

    def __init__(
        self, client: redis.Redis, keys: KeySchema, clock: Callable[[], float] = time.time
    ) -> None:
        self.client, self.clock = client, clock
        self.key, self.probe_key = keys.n8n_circuit, keys.n8n_probe
        self.recovered_key = keys.n8n_recovered

    def state(self) -> CircuitState:
        """The circuit as Redis has it (one round trip)."""
        fields = self.client.hgetall(self.key)
        if not fields:
            return CircuitState(open=False)
        return CircuitState(
            open=True,
            opened_at=float(fields.get(b"openedAt", 0) or 0),
            reason=fields.get(b"reason", b"").decode(errors="replace"),
            probes=int(fields.get(b"probes", 0) or 0),
        )

    def open(self, reason: str) -> bool:
        """Open the circuit (if closed) because of `reason`; True if this call opened it."""
        first_probe_ms = int(probe_backoff(0) * 1000)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self.key, "openedAt", repr(self.clock()))
            pipe.hsetnx(self.key, "reason", reason[:300])
            pipe.set(self.probe_key, "1", nx=True, px=first_probe_ms)  # no probe at once
            opened, _, _ = pipe.execute()
        return bool(opened)

    def close(self) -> float | None:
        """Close the circuit; the outage's length in seconds if this call closed it."""
        now = self.clock()
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(self.key, "openedAt")
            pipe.delete(self.key, self.probe_key)
            pipe.set(self.recovered_key, repr(now))
            opened_at, deleted, _ = pipe.execute()
        if not deleted or opened_at is None:
            return None
        return max(0.0, now - float(opened_at))

    def claim_probe(self, probes: int) -> bool:
        """Whether this caller may probe now: one prober per backoff period, across workers."""
        backoff_ms = int(probe_backoff(probes) * 1000)
        return bool(self.client.set(self.probe_key, "1", nx=True, px=backoff_ms))

    def probe_failed(self) -> None:
        """Count a failed probe (the next backoff doubles)."""
        if self.client.exists(self.key):
            self.client.hincrby(self.key, "probes", 1)

    def recovered_at(self) -> float:
        """Unix time of the last close (0: never)."""
        value = self.client.get(self.recovered_key)
        return float(value) if value else 0.0


class CircuitView:
    """The gateway's read of the circuit: `is_open()`, re-read at most every `ttl` seconds;
    closed when Redis cannot say. Parameters: `client`, `keys`, `ttl`, `clock` (monotonic)."""

    def __init__(
        self,
        client: redis.Redis | None,
        keys: KeySchema,
        ttl: float = VIEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.ttl, self.clock = client, ttl, clock
        self.key = keys.n8n_circuit
        self._open, self._next = False, 0.0

    def is_open(self) -> bool:
        """Whether the workers found n8n unreachable (cached)."""
        if self.client is None:
            return False
        now = self.clock()
        if now >= self._next:
            self._next = now + self.ttl
            try:
                self._open = bool(self.client.exists(self.key))
            except redis.RedisError:
                self._open = False
        return self._open
