"""SIDECAR_DURABLE_ACK: the 202 waits until the stored job is on disk and/or on
SIDECAR_DURABLE_ACK_REPLICAS replicas.

On disk: WAITAOF (Redis >= 7.2), or `appendfsync always` verified (Redis then fsyncs the
append-only file before it answers the script that stored the job, so no wait is needed).
Neither: the webhook is refused *before* it is stored (503 + Retry-After), never answered
202 with a weaker promise. Replicas: WAIT.

Waits are batched: every request that stored its job calls `confirm()`; one waiter thread
per process takes every request queued since its last round, writes one marker key (so its
own connection's offset covers every write acknowledged before) and issues one WAITAOF /
WAIT for all of them. Throughput then costs one fsync or replica round trip per batch, not
per webhook. A failed or timed-out wait answers 503 + Retry-After: the job is stored and
will be delivered; the sender's retry is caught by the dedup guard when the webhook has an
identity.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from sidecar.backend.keys import keys_for
from sidecar.errors import ServiceUnavailable
from sidecar.queues.durability import Durability, DurabilityProbe
from sidecar.settings import Settings

log = logging.getLogger("sidecar.durable_ack")
RETRY_AFTER_SECONDS = "5"
PROBE_SECONDS = 5.0  # how stale the verified appendfsync may be


class NotDurable(Exception):
    """The job could not be confirmed durable; the message says why."""


def refusal(reason: str) -> ServiceUnavailable:
    """The 503 a sender gets when the durable ack cannot be given."""
    log.warning("durable ack refused: %s", reason)
    return ServiceUnavailable(
        "the webhook could not be confirmed durable; retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@dataclass
class _Ticket:
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


class AckBatcher:
    """Runs `check` (raises NotDurable) once per batch of concurrent `confirm()` callers."""

    def __init__(self, check: Callable[[], None], timeout: float) -> None:
        self.check, self.timeout = check, timeout
        self.rounds = 0  # checks run so far (for tests and metrics)
        self._cond = threading.Condition()
        self._pending: list[_Ticket] = []
        self._pid: int | None = None

    def confirm(self) -> None:
        """Block until a check that started after this call succeeded; NotDurable if not."""
        ticket = _Ticket()
        with self._cond:
            self._ensure_thread()
            self._pending.append(ticket)
            self._cond.notify()
        if not ticket.done.wait(self.timeout + 5.0):
            raise NotDurable("the durability check did not answer in time")
        if ticket.error is not None:
            raise NotDurable(ticket.error)

    def _ensure_thread(self) -> None:
        """One waiter thread per process (a forked gateway worker starts its own)."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="durable-ack", daemon=True).start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, []
            error = self._run_check()
            for ticket in batch:
                ticket.error = error
                ticket.done.set()

    def _run_check(self) -> str | None:
        self.rounds += 1
        try:
            self.check()
        except NotDurable as exc:
            return str(exc)
        except redis.RedisError as exc:
            return f"Redis failed during the durability wait: {type(exc).__name__}"
        return None


class DurableAck:
    """The durable-ack policy for one Redis. `ready()` before storing, `confirm()` after."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.replicas = settings.durable_ack_replicas
        self.timeout_ms = max(1, round(settings.durable_ack_timeout_seconds * 1000))
        self.marker = keys_for(settings).durable_ack
        self.probe = DurabilityProbe(client, PROBE_SECONDS)
        self.batcher = AckBatcher(self._check, settings.durable_ack_timeout_seconds)

    def ready(self) -> None:
        """ServiceUnavailable when this Redis cannot put a job on disk before the 202."""
        durability = self.probe.current()
        if durability is None:
            raise refusal("Redis durability settings cannot be read")
        reason = missing_disk_guarantee(durability)
        if reason:
            raise refusal(reason)

    def confirm(self) -> None:
        """Wait (batched) until the jobs stored so far are durable; ServiceUnavailable if not."""
        durability = self.probe.current()
        if durability is not None and not needs_wait(durability, self.replicas):
            return
        try:
            self.batcher.confirm()
        except NotDurable as exc:
            raise refusal(str(exc)) from None

    def _check(self) -> None:
        """One marker write and one WAITAOF or WAIT covering every earlier write."""
        durability = self.probe.current()
        if durability is None:
            raise NotDurable("Redis durability settings cannot be read")
        with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(self.marker)
            if durability.waitaof:
                pipe.execute_command("WAITAOF", 1, self.replicas, self.timeout_ms)
            else:
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            reply = pipe.execute()[1]
        local, replicas = (reply[0], reply[1]) if durability.waitaof else (1, reply)
        if int(local) < 1:
            raise NotDurable("the job was not fsync'd to the append-only file in time")
        if int(replicas) < self.replicas:
            raise NotDurable(f"{replicas} of {self.replicas} replicas acknowledged in time")


def missing_disk_guarantee(durability: Durability) -> str | None:
    """Why a job cannot be on disk before its 202 here, or None when it can."""
    if durability.appendonly != "yes":
        return "Redis has appendonly no: nothing is written to disk"
    if durability.waitaof or durability.appendfsync == "always":
        return None
    return (
        f"Redis {durability.version} has no WAITAOF (needs 7.2) and appendfsync is "
        f"{durability.appendfsync}, not always"
    )


def needs_wait(durability: Durability, replicas: int) -> bool:
    """False when the store's own reply already meant durable (appendfsync always and no
    replicas wanted)."""
    return replicas > 0 or (durability.waitaof and durability.appendfsync != "always")
