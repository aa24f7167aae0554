"""A realistic six hours for the status page, replayed in compressed time through the real
controller, mode store and history: traffic climbs over the webhooks/h threshold, the
controller switches to queue mode after the sustain window, the queue fills, then traffic
falls, the queue drains and after the cool-down the controller switches back to single.

Every value is a deterministic function of the minute, so tests know what was drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import redis

from sidecar.alerts import Alert
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.queue_names import inbound_queue
from sidecar.events import publish_event
from sidecar.mode.controller import QUEUE, Controller, ControllerState, Signals, Thresholds
from sidecar.mode.event_alerts import alert_from_event
from sidecar.mode.history import History
from sidecar.mode.store import ModeStore
from sidecar.queues.deadletters.entries import add_dead_letter, entry_for
from sidecar.settings import Settings
from sidecar.worker.registry import check_in

MINUTES = 6 * 60
CAPACITY_PER_MINUTE = 11.0  # what single-mode n8n would have kept up with


def webhooks_per_hour(minute: int) -> float:
    """Quiet, a climb to ~900/h between 1 h and 3 h, then quiet again."""
    base = 220 + 30 * math.sin(minute / 9)
    surge = 680 * math.exp(-(((minute - 120) / 38) ** 2))
    return round(base + surge, 1)


def exec_p95_seconds(minute: int) -> float:
    """Answer times that grow with the load, never past the 30 s threshold."""
    return round(4 + webhooks_per_hour(minute) / 60 + 1.5 * math.sin(minute / 5), 2)


def memory_percent(minute: int) -> float:
    """Memory rising with the load, under 80 %."""
    return round(48 + webhooks_per_hour(minute) / 40 + 2 * math.sin(minute / 13), 1)


def signals_at(minute: int) -> Signals:
    """The three signals of `minute`."""
    return Signals(webhooks_per_hour(minute), exec_p95_seconds(minute), memory_percent(minute))


@dataclass
class Outcome:
    """What the replay produced: switch minutes, and every recorded signal point."""

    start: float
    switches: list[tuple[int, str]] = field(default_factory=list)
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def replay(client: redis.Redis, settings: Settings, end: float) -> Outcome:
    """Replay MINUTES minutes ending at `end` (unix s) into Redis; what was recorded."""
    start = (end // 60 - MINUTES + 1) * 60
    clock = FakeClock(start)
    thresholds = Thresholds.from_settings(settings)
    store, history = ModeStore(client, DEFAULT_KEYS, clock=clock), History(client, DEFAULT_KEYS)
    controller = Controller(thresholds, clock, ControllerState(since=start))
    queue, depth = inbound_queue(settings.queue_prefix), 0.0
    outcome = Outcome(start)
    for minute in range(MINUTES):
        clock.now = start + minute * 60
        signals = signals_at(minute)
        processed = 0.0
        if controller.state.mode == QUEUE:
            arrived = signals.webhooks_per_hour / 60
            processed = min(depth + arrived, CAPACITY_PER_MINUTE)
            depth = max(depth + arrived - processed, 0.0)
        decision = controller.observe(signals, queues_drained=depth < 1)
        store.record(decision, controller.state, None)
        store.save_signals(signals)
        for event in decision.events:
            alert, _ = alert_from_event(event, signals, decision.mode, clock.now)
            publish_event(client, DEFAULT_KEYS, "alert", alert.to_dict())
        if decision.changed:
            outcome.switches.append((minute, decision.mode))
        failed = 1.0 if processed and minute % 17 == 0 else 0.0
        row = {"depth": round(depth), "processed": round(processed), "failed": failed}
        history.record(clock.now, signals, decision.mode, {queue: row})
        for name, value in signals.to_dict().items():
            outcome.points.setdefault(name, []).append((clock.now, float(value or 0)))
    _extras(client, settings, clock.now)
    return outcome


def _extras(client: redis.Redis, settings: Settings, now: float) -> None:
    """Two live workers, a few dead letters with two reasons, a health alert."""
    check_in(client, DEFAULT_KEYS, "worker-a")
    check_in(client, DEFAULT_KEYS, "worker-b")
    queue = inbound_queue(settings.queue_prefix)
    errors = ["n8n answered 500: workflow error"] * 3 + ["n8n answered 404: webhook not found"]
    with client.pipeline(transaction=True) as pipe:
        for index, error in enumerate(errors):
            entry = entry_for(queue, f"job{index}", {"method": "POST", "path": "/x"}, error, 3)
            add_dead_letter(client, pipe, settings, entry)
        pipe.execute()
    alert = Alert.make("dlq_growing", "dead-letter queue grew from 0 to 4 entries", "single")
    publish_event(client, DEFAULT_KEYS, "alert", {**alert.to_dict(), "at": alert.at})
