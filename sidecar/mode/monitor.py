"""The monitor loop of a gateway: flush counters, and if this process evaluates, decide.

Every SIDECAR_MONITOR_INTERVAL_SECONDS each gateway's Monitor:

1. flushes this process's webhook and latency counters to Redis;
2. tries to take (or renew) the evaluator lock — the other gateways stop here;
3. the evaluator reads the shared mode, raises health alerts (n8n_unreachable,
   dlq_growing, no_workers), samples the signals and saves them for /v1/mode and the
   history (/status, `status --watch`); a pinned mode ends the tick here;
4. loads the controller state from the store, runs the controller with the drained-queues
   rule, records the decision (only while still holding the lock and not pinned), and
   raises an alert for every controller event.

Redis failing mid-tick raises `redis_unreachable` and the tick is skipped. Workers do not
run a Monitor; they flush their latency samples with a `SignalFlusher`. Both flush the
counters (counters.py) made where the gateway app or the worker is built.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from sidecar.alerts import (
    DLQ_GROWING,
    N8N_UNREACHABLE,
    NO_WORKERS,
    REDIS_UNREACHABLE,
    SIGNAL_BLIND,
    Alert,
    Alerter,
)
from sidecar.backend.keys import KeySchema, keys_for
from sidecar.errors import BackendUnavailable
from sidecar.events import publish_event
from sidecar.isotime import iso
from sidecar.mode import metrics
from sidecar.mode.backlog import dead_letter_size, queues_drained
from sidecar.mode.controller import (
    QUEUE,
    Controller,
    ControllerState,
    Decision,
    Signals,
    Thresholds,
)
from sidecar.mode.counters import SignalCounters, flush_local
from sidecar.mode.event_alerts import alert_from_event
from sidecar.mode.local_store import AnyStore, open_store
from sidecar.mode.lock import EvaluatorLock, LocalLock
from sidecar.mode.signals import SignalSampler
from sidecar.mode.sources import signal_sources
from sidecar.mode.store import ModeView
from sidecar.settings import Settings

log = logging.getLogger("sidecar.mode.monitor")


@dataclass(frozen=True)
class Tick:
    """What one tick did. `outcome`: evaluated, follower, pinned, not_recorded (pinned or
    lock lost meanwhile) or redis_unreachable; the rest is filled as far as the tick got."""

    outcome: str
    view: ModeView | None = None
    signals: Signals | None = None
    decision: Decision | None = None


class Periodic:
    """Runs `tick()` every `interval` seconds in a daemon thread until stop()."""

    def __init__(self, interval: float, name: str) -> None:
        self.interval, self.name = interval, name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        """One round of work (subclasses)."""
        raise NotImplementedError

    def start(self) -> Periodic:
        """Start the thread; the first tick runs at once."""
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, waiting up to `timeout` for the tick in progress."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        """Tick, then wait an interval; an error is logged and the loop goes on."""
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("%s tick failed", self.name)
            self._stopping.wait(self.interval)


class SignalFlusher(Periodic):
    """For worker processes: flushes the worker's latency (and rate) samples to Redis."""

    def __init__(
        self, client: redis.Redis, keys: KeySchema, interval: float, counters: SignalCounters
    ) -> None:
        super().__init__(interval, "signal-flusher")
        self.client, self.keys, self.counters = client, keys, counters

    def tick(self) -> bool:
        """Flush once; False when Redis refused."""
        return self.counters.flush(self.client, self.keys)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop, then flush what is left."""
        super().stop(timeout)
        self.counters.flush(self.client, self.keys)


class Monitor(Periodic):
    """The mode monitor of one gateway. Parameters: `settings`, `client` (None without
    Redis); optional parts (built from settings when None): `counters` (the gateway's, read
    by the sampler unless `sampler` is given), `store`, `alerter`, `sampler`, `lock` (its
    TTL `lock_ttl_seconds`, default 3 intervals); health callables
    `n8n_health() -> (ok, detail)` and `live_workers() -> int` (skipped when None);
    `history(signals, mode)` called with each sample the evaluator takes (history.py)."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis | None,
        *,
        counters: SignalCounters | None = None,
        store: AnyStore | None = None,
        alerter: Alerter | None = None,
        sampler: SignalSampler | None = None,
        lock: EvaluatorLock | LocalLock | None = None,
        lock_ttl_seconds: float | None = None,
        n8n_health: Callable[[], tuple[bool, str]] | None = None,
        live_workers: Callable[[], int] | None = None,
        history: Callable[[Signals, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings.monitor_interval_seconds, "mode-monitor")
        self.settings, self.client, self.clock = settings, client, clock
        self.thresholds = Thresholds.from_settings(settings)
        self.store = store or open_store(client, keys_for(settings))
        self.alerter = alerter or Alerter.from_settings(settings, client)
        if sampler is None:
            counters = counters or SignalCounters.from_settings(settings)
            sampler = SignalSampler(settings, client, rate=counters.rate, latency=counters.latency)
        self.sampler = sampler
        self.sources = signal_sources(settings)
        ttl = lock_ttl_seconds or 3 * settings.monitor_interval_seconds
        self.lock = lock or (
            LocalLock()
            if client is None
            else EvaluatorLock(client, ttl, keys_for(settings).mode_evaluator)
        )
        self.n8n_health, self.live_workers = n8n_health, live_workers
        self.history = history
        self._last_mode: str | None = None
        self._last_dlq: int | None = None
        self._last_signals = Signals()

    def start(self) -> Monitor:
        """Apply SIDECAR_MODE to the store, then tick every interval in a daemon thread."""
        try:
            self.store.apply_configured(self.settings.mode)
        except BackendUnavailable as exc:
            log.warning("could not apply SIDECAR_MODE=%s yet: %s", self.settings.mode, exc)
        self.alert_blind_signals()
        super().start()
        return self

    def alert_blind_signals(self) -> None:
        """signal_blind, once at start-up, for each signal that cannot see what it means."""
        if self.settings.mode != "auto":
            return
        for name, source in self.sources.items():
            if source.blind:
                text = (
                    f"{name} is measured as {source.source}, which cannot show calm: {source.note}"
                )
                self._alert(SIGNAL_BLIND, text, name, "single")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking, give the evaluator lock up, and finish queued alert POSTs."""
        super().stop(timeout)
        with contextlib.suppress(BackendUnavailable):
            self.lock.release()
        self.alerter.close(timeout)

    def tick(self) -> Tick:
        """One monitor round (see the module docstring); never raises BackendUnavailable."""
        flush_local(self.client, keys_for(self.settings), self.sampler.rate, self.sampler.latency)
        try:
            return self._tick()
        except BackendUnavailable as exc:
            self._alert(REDIS_UNREACHABLE, f"Redis unreachable: {exc}", "redis", "single")
            return Tick("redis_unreachable")

    def _tick(self) -> Tick:
        """The tick proper; BackendUnavailable escapes to tick()."""
        if not self.lock.acquire():
            view = self.store.read()
            self._follow(view)
            return Tick("follower", view)
        view = self.store.read()
        if self._last_mode is not None and view.mode != self._last_mode and view.pinned:
            self._announce(self._last_mode, view.mode, view.reason, view.pinned_by or "operator")
        self._follow(view)
        self._health_alerts(view)
        signals = self.sampler.sample()
        shown = self._last_signals = signals.reportable(self.thresholds)  # blind: no calm
        metrics.publish_signals(shown, self.thresholds, self.sources)
        self.store.save_signals(shown, self.sampler.errors())  # shown even while pinned
        if self.history is not None:
            self.history(shown, view.mode)  # best effort: never raises
        if view.pinned:
            return Tick("pinned", view, signals)
        controller = Controller(self.thresholds, self.clock, self._state_for(view))
        decision = controller.observe(signals, self._drained(), self.client is not None)
        if not self.store.record(decision, controller.state, getattr(self.lock, "token", None)):
            return Tick("not_recorded", view, signals)
        self._after_decision(decision, shown)
        return Tick("evaluated", self.store.read(), signals, decision)

    def _state_for(self, view: ModeView) -> ControllerState:
        """The stored controller state, or a fresh one when none fits the effective mode."""
        state = self.store.controller_state()
        if state is None or state.mode != view.mode:
            since = view.since or self.clock()
            state = ControllerState(mode=view.mode, reason=view.reason, since=since)
        return state

    def _drained(self) -> bool:
        """The drained-queues rule (always true without Redis: nothing can be queued)."""
        return self.client is None or queues_drained(self.client, self.settings.queue_prefix)

    def _after_decision(self, decision: Decision, signals: Signals) -> None:
        """Alerts for the controller's events; the switch on the stream and the gauges."""
        now = self.clock()
        for event in decision.events:
            alert, subject = alert_from_event(event, signals, decision.mode, now)
            self.alerter.emit(alert, subject)
        if decision.changed:
            self._announce(decision.previous, decision.mode, decision.reason, "controller", False)
            self._follow(self.store.read())

    def _announce(self, before: str, after: str, reason: str, by: str, alert: bool = True) -> None:
        """Put a mode_changed event on the stream (and alert, for pins the monitor noticed)."""
        data = {"from": before, "to": after, "reason": reason, "by": by, "at": iso(self.clock())}
        if self.client is not None:
            try:
                publish_event(self.client, keys_for(self.settings), "mode_changed", data)
            except BackendUnavailable as exc:
                log.warning("mode change not added to the event stream: %s", exc)
        if alert:
            self._alert("mode_changed", f"{before} → {after}: {reason}", after, after)

    def _follow(self, view: ModeView) -> None:
        """Remember and publish the mode this tick saw."""
        self._last_mode = view.mode
        metrics.publish_mode(view.mode, view.pinned)

    def _health_alerts(self, view: ModeView) -> None:
        """n8n_unreachable, dlq_growing and no_workers; a failing check is logged."""
        checks = (self._check_n8n, self._check_dlq, self._check_workers)
        for check in checks:
            try:
                check(view)
            except BackendUnavailable:
                raise
            except Exception:
                log.exception("health check %s failed", check.__name__)

    def _check_n8n(self, view: ModeView) -> None:
        """n8n_unreachable when n8n's health check fails."""
        if self.n8n_health is None:
            return
        ok, detail = self.n8n_health()
        if not ok:
            self._alert(N8N_UNREACHABLE, f"n8n is unreachable: {detail}", "n8n", view.mode)

    def _check_dlq(self, view: ModeView) -> None:
        """dlq_growing when the dead-letter queue holds more entries than at the last tick."""
        if self.client is None:
            return
        size = dead_letter_size(self.client, self.settings.queue_prefix)
        if self._last_dlq is not None and size > self._last_dlq:
            text = f"dead-letter queue grew from {self._last_dlq} to {size} entries"
            self._alert(DLQ_GROWING, text, "dlq", view.mode)
        self._last_dlq = size

    def _check_workers(self, view: ModeView) -> None:
        """no_workers when in queue mode no worker is alive."""
        if view.mode != QUEUE or self.live_workers is None:
            return
        if self.live_workers() == 0:
            text = "queue mode but no live worker: queued webhooks are not being delivered"
            self._alert(NO_WORKERS, text, "workers", view.mode)

    def _alert(self, kind: str, message: str, subject: str, mode: str) -> None:
        """Raise a monitor alert with the evaluator's last sample as its signals."""
        signals = self._last_signals.to_dict()
        alert = Alert.make(kind, message, mode, signals, self.clock())
        self.alerter.emit(alert, subject)
