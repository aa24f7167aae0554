"""The adaptive pace: how many deliveries a worker keeps in flight towards n8n (AIMD, as
TCP's congestion window).

It starts at the floor. Additive increase: each answer from n8n faster than the target (or
no slower than SLOW_FACTOR times the usual one: a workflow that is slow by nature) adds
1/limit, so the limit grows by about one per round of answers. An answer slower than both
(n8n slows down under load) takes 1/limit away. Multiplicative decrease: a 429 or 503, a
timeout, or a sharp rise of the answer time (over RISE_FACTOR times the usual one) halves
it, at most once per cool-down (one answer time), so a burst of bad answers counts once.
The usual answer time follows faster answers at once and slower ones only slowly. The
limit stays between `floor` and `ceiling` (the worker's concurrency); the global limiter
(SIDECAR_WORKER_LIMIT_MAX) still caps the starts. `restart()` drops to the floor: the
ramp after an n8n outage. Every worker runs one; their sum is the pace across workers
(published in Redis: KeySchema.pace, read by `status` and the metrics).

Pure: no I/O, the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from sidecar.backend.keys import KeySchema

OVERLOAD_STATUSES = frozenset({429, 503})
RISE_FACTOR = 3.0  # an answer slower than this many times the usual one: n8n is struggling
SLOW_FACTOR = 1.2  # slower than the target and this many times the usual one: back off a bit
STUCK_FACTOR = 10.0  # in flight this many times the usual answer time ...
STUCK_MIN_SECONDS = 5.0  # ... and at least this long: presumed stuck
USUAL_UP = 0.002  # the usual answer time drifts up slowly ...
USUAL_DOWN = 0.3  # ... and follows faster answers quickly


class Pace:
    """AIMD limit. Parameters: `ceiling`, `target` (seconds: faster answers let the pace
    grow), `floor`, `clock` (monotonic seconds), `start` (initial limit; the floor if None)."""

    def __init__(
        self,
        ceiling: int,
        target: float,
        floor: int = 1,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        self.ceiling, self.floor = max(ceiling, floor), floor
        self.target, self.clock = target, clock
        self.value = float(self.floor if start is None else start)
        self.usual: float | None = None  # the usual answer time (seconds)
        self._quiet_until = 0.0  # no second halving before this
        self.cuts = 0

    @property
    def limit(self) -> int:
        """Deliveries allowed in flight now."""
        return max(self.floor, min(self.ceiling, int(self.value)))

    def answered(self, seconds: float, status: int) -> None:
        """n8n answered `status` after `seconds`."""
        if status in OVERLOAD_STATUSES:
            self.overloaded(seconds)
            return
        usual = self.usual if self.usual is not None else seconds
        self._learn(seconds)
        step = 1.0 / max(self.value, 1.0)
        if seconds > RISE_FACTOR * usual:
            self.overloaded(seconds)
        elif seconds > self.target and seconds > SLOW_FACTOR * usual:
            self.value = max(float(self.floor), self.value - step)
        elif 200 <= status < 500:
            self.value = min(float(self.ceiling), self.value + step)

    def timed_out(self, seconds: float) -> None:
        """n8n did not answer within the timeout."""
        self.overloaded(seconds)

    def overloaded(self, seconds: float = 0.0) -> None:
        """Halve the limit, once per cool-down."""
        now = self.clock()
        if now < self._quiet_until:
            return
        self.value = max(float(self.floor), self.value / 2)
        self._quiet_until = now + max(seconds, self.usual or 0.0, 0.05)
        self.cuts += 1

    def stuck_after(self) -> float:
        """Seconds after which a delivery still in flight is presumed stuck (it stops
        counting against the limit, as TCP's retransmission timeout)."""
        return max(STUCK_MIN_SECONDS, STUCK_FACTOR * (self.usual or 0.0))

    def restart(self) -> None:
        """Back to the floor (n8n just came back): the ramp."""
        self.value = float(self.floor)
        self.usual = None

    def _learn(self, seconds: float) -> None:
        if self.usual is None:
            self.usual = seconds
            return
        weight = USUAL_DOWN if seconds < self.usual else USUAL_UP
        self.usual += weight * (seconds - self.usual)


def publish(client: redis.Redis, keys: KeySchema, worker: str, limit: int) -> None:
    """Record `worker`'s current limit (its pace) for status and metrics."""
    client.hset(keys.pace, worker, limit)


def withdraw(client: redis.Redis, keys: KeySchema, worker: str) -> None:
    """A stopping worker's pace no longer counts."""
    client.hdel(keys.pace, worker)


def total_pace(client: redis.Redis, keys: KeySchema, live: set[str]) -> int:
    """The pace across the `live` workers: the sum of their limits."""
    values = client.hgetall(keys.pace)
    return sum(int(v) for k, v in values.items() if k.decode() in live)
