"""What a worker may send to n8n now: the shared circuit (circuit.py) and its own pace
(pace.py), fed by the outcomes of its deliveries.

`slots()` is how many deliveries may be in flight: none while the circuit is open (held
jobs stay waiting, attempts untouched), the pace otherwise (the worker's concurrency when
the pace is not adaptive). Past SIDECAR_MAX_OUTAGE_SECONDS the circuit `expired()`: the
worker takes jobs again, to dead-letter them. `tick()` (every loop turn) re-reads the
circuit at most every REFRESH_SECONDS, probes n8n when it is this worker's turn, and
publishes the pace; `observe()` learns from each finished delivery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import redis

from sidecar.alerts import N8N_REACHABLE, N8N_UNREACHABLE, Alert, Alerter
from sidecar.backend.keys import keys_for
from sidecar.settings import Settings
from sidecar.upstream import Upstream
from sidecar.worker import pace as pace_store
from sidecar.worker.circuit import Circuit, CircuitState
from sidecar.worker.pace import Pace
from sidecar.worker.policy import Outcome

log = logging.getLogger("sidecar.worker")
REFRESH_SECONDS = 0.25
PUBLISH_SECONDS = 1.0
CIRCUIT_SIGNALS = frozenset({"not_reached", "no_answer", "not_ready"})  # delivery.send_once


class Gate:
    """Parameters: `settings`, `client` (Redis), `upstream` (for the readiness probe),
    `name` (the worker's), `concurrency` (the pace's ceiling), `clock` (monotonic)."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        upstream: Upstream,
        name: str,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.client, self.upstream, self.name = settings, client, upstream, name
        self.concurrency, self.clock = concurrency, clock
        self.circuit = Circuit(client, keys_for(settings))
        self.pace = Pace(concurrency, settings.pace_target_seconds, clock=clock)
        self.state = CircuitState(open=False)
        self._next_refresh = 0.0
        self._next_publish = 0.0
        self._alerter: Alerter | None = None

    def slots(self) -> int:
        """Deliveries allowed in flight now."""
        if self.state.open and not self.expired():
            return 0
        return self.pace.limit if self.settings.pace_adaptive else self.concurrency

    def counted(self, sent_at: Iterable[float]) -> int:
        """Deliveries in flight that count against the pace: those not stuck (see
        Pace.stuck_after); a hung request must not stall a pace of 1."""
        oldest = self.clock() - self.pace.stuck_after()
        return sum(1 for started in sent_at if started >= oldest)

    def expired(self) -> bool:
        """The circuit has been open longer than SIDECAR_MAX_OUTAGE_SECONDS."""
        outage = self.state.outage_seconds(time.time())
        return self.state.open and outage > self.settings.max_outage_seconds

    def tick(self) -> None:
        """Re-read the circuit (ramp when it closed), probe if due, publish the pace."""
        now = self.clock()
        if now >= self._next_refresh:
            self._next_refresh = now + REFRESH_SECONDS
            self._follow(self.circuit.state())
            if self.state.open:
                self._probe()
        if now >= self._next_publish:
            self._next_publish = now + PUBLISH_SECONDS
            pace_store.publish(self.client, keys_for(self.settings), self.name, self.slots())

    def observe(self, outcome: Outcome) -> None:
        """Learn from one finished delivery (main thread)."""
        if outcome.signal in CIRCUIT_SIGNALS:
            self._open(outcome.error)
        elif outcome.signal == "timeout":
            self.pace.timed_out(outcome.duration)
        elif outcome.status is not None:
            self.pace.answered(outcome.duration, outcome.status)

    def withdraw(self) -> None:
        """The worker stops: its pace no longer counts."""
        pace_store.withdraw(self.client, keys_for(self.settings), self.name)

    def _follow(self, state: CircuitState) -> None:
        if self.state.open and not state.open:
            log.info("n8n circuit closed: delivery resumes, ramping up")
            self.pace.restart()
        self.state = state

    def _open(self, reason: str) -> None:
        if self.circuit.open(reason):
            log.warning("n8n unreachable, circuit open: deliveries held (%s)", reason)
            self._alert(
                N8N_UNREACHABLE,
                "n8n is unreachable: deliveries are held until it is ready again",
                {"reason": reason[:200], "outageSeconds": 0},
            )
        if not self.state.open:
            self.state = self.circuit.state()

    def _probe(self) -> None:
        if not self.circuit.claim_probe(self.state.probes):
            return
        ready, detail = self.upstream.ready()
        if not ready:
            self.circuit.probe_failed()
            log.info("n8n readiness probe: not ready (%s)", detail)
            return
        outage = self.circuit.close()
        self._follow(CircuitState(open=False))
        if outage is not None:
            log.warning("n8n ready again after %.1f s: circuit closed", outage)
            self._alert(
                N8N_REACHABLE,
                f"n8n is ready again after {outage:.0f} s unreachable; held deliveries resume",
                {"outageSeconds": round(outage, 1)},
            )

    def _alert(self, kind: str, message: str, signals: dict) -> None:
        try:
            if self._alerter is None:
                self._alerter = Alerter.from_settings(self.settings, self.client)
            self._alerter.emit(Alert.make(kind, message, "queue", signals), subject="circuit")
        except Exception:  # an alert is best effort; delivery goes on
            log.exception("could not raise the %s alert", kind)
