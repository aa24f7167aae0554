"""The mode controller, driven by a fake clock: crossings, spikes, noise, recovery."""

from __future__ import annotations

import json
import random

import pytest

from sidecar.mode.controller import (
    MODE_CHANGED,
    QUEUE_UNAVAILABLE,
    THRESHOLD_CLEARED,
    THRESHOLD_CROSSED,
    Controller,
    ControllerState,
    Decision,
    Event,
    Signals,
    SignalTrack,
    Thresholds,
)
from sidecar.settings import load_settings

STEP = 15.0  # seconds between samples, as SIDECAR_MONITOR_INTERVAL_SECONDS
LIMITS = Thresholds()  # 500/h, 30 s, 80 %, sustain 300 s, cool-down 1800 s, ratio 0.7
CALM = Signals(webhooks_per_hour=100, exec_p95_seconds=2, memory_percent=40)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rate(value: float | None) -> Signals:
    """A sample where only the webhook rate varies."""
    return Signals(webhooks_per_hour=value, exec_p95_seconds=2, memory_percent=40)


def feed(
    controller: Controller,
    clock: FakeClock,
    samples: list[Signals],
    *,
    drained: bool = True,
    available: bool = True,
) -> list[Decision]:
    """Observe each sample, STEP seconds apart (the first one at the current time)."""
    decisions = []
    for sample in samples:
        decisions.append(controller.observe(sample, drained, available))
        clock.advance(STEP)
    return decisions


def kinds(decisions: list[Decision]) -> list[str]:
    """Every event kind, in order."""
    return [event.kind for decision in decisions for event in decision.events]


def ticks(seconds: float) -> int:
    """How many samples cover `seconds` (both ends included)."""
    return int(seconds // STEP) + 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def controller(clock: FakeClock) -> Controller:
    return Controller(LIMITS, clock)


def to_queue(controller: Controller, clock: FakeClock) -> None:
    """Drive the controller into queue mode with a sustained rate of 600/h."""
    feed(controller, clock, [rate(600)] * ticks(LIMITS.sustain_seconds))
    assert controller.state.mode == "queue"


def test_starts_single_and_stays_single_under_the_thresholds(
    controller: Controller, clock: FakeClock
) -> None:
    decisions = feed(controller, clock, [CALM] * 500)

    assert {d.mode for d in decisions} == {"single"}
    assert kinds(decisions) == []
    assert not any(d.changed for d in decisions)


def test_switches_to_queue_only_after_the_signal_stayed_over_for_sustain_seconds(
    controller: Controller, clock: FakeClock
) -> None:
    start = clock.now
    before = feed(controller, clock, [rate(600)] * (ticks(LIMITS.sustain_seconds) - 1))
    assert {d.mode for d in before} == {"single"}
    assert clock.now - STEP - start < LIMITS.sustain_seconds

    switch = controller.observe(rate(600))

    assert switch.changed and switch.mode == "queue" and switch.previous == "single"
    assert [e.kind for e in switch.events] == [THRESHOLD_CROSSED, MODE_CHANGED]
    crossed = switch.events[0]
    assert (crossed.signal, crossed.value, crossed.threshold) == ("webhooks_per_hour", 600, 500)
    assert "webhooks_per_hour 600 over 500 for 300 s" in switch.reason
    assert controller.state.since == clock.now


@pytest.mark.parametrize(
    ("hot", "signal"),
    [
        (
            Signals(webhooks_per_hour=100, exec_p95_seconds=45, memory_percent=40),
            "exec_p95_seconds",
        ),
        (Signals(webhooks_per_hour=100, exec_p95_seconds=2, memory_percent=91), "memory_percent"),
        (
            Signals(webhooks_per_hour=100, exec_p95_seconds=2, eventloop_lag_seconds=0.9),
            "eventloop_lag_seconds",
        ),
    ],
)
def test_any_one_signal_is_enough(
    controller: Controller, clock: FakeClock, hot: Signals, signal: str
) -> None:
    decisions = feed(controller, clock, [hot] * ticks(LIMITS.sustain_seconds))

    assert decisions[-1].changed and decisions[-1].mode == "queue"
    assert decisions[-1].events[0].signal == signal


def test_brief_spikes_do_not_switch(controller: Controller, clock: FakeClock) -> None:
    spike = [rate(900)] * (ticks(LIMITS.sustain_seconds) - 2)  # just short of sustain
    calm = [rate(300)] * 3
    decisions = feed(controller, clock, (spike + calm) * 20)

    assert {d.mode for d in decisions} == {"single"}
    assert kinds(decisions) == []


def test_a_dip_to_the_threshold_restarts_the_sustain_timer(
    controller: Controller, clock: FakeClock
) -> None:
    almost = [rate(600)] * (ticks(LIMITS.sustain_seconds) - 1)
    decisions = feed(controller, clock, [*almost, rate(500), *almost])  # 500 is not over 500
    assert {d.mode for d in decisions} == {"single"}

    assert controller.observe(rate(600)).mode == "queue"


def test_noise_around_the_threshold_never_switches_to_queue(
    controller: Controller, clock: FakeClock
) -> None:
    noise = random.Random(1)
    samples = [rate(500 + noise.uniform(-60, 60)) for _ in range(2000)]  # ~8 hours
    samples += [rate(490), rate(510)] * 500

    decisions = feed(controller, clock, samples)

    assert {d.mode for d in decisions} == {"single"}
    assert MODE_CHANGED not in kinds(decisions)


def test_noise_around_the_threshold_in_queue_mode_does_not_flap(
    controller: Controller, clock: FakeClock
) -> None:
    to_queue(controller, clock)
    noise = random.Random(2)

    decisions = feed(controller, clock, [rate(500 + noise.uniform(-80, 80)) for _ in range(2000)])

    assert {d.mode for d in decisions} == {"queue"}
    assert MODE_CHANGED not in kinds(decisions)


def test_noise_around_the_recovery_level_keeps_queue_mode(
    controller: Controller, clock: FakeClock
) -> None:
    to_queue(controller, clock)
    recovery_level = LIMITS.recovery_limit("webhooks_per_hour")  # 350

    decisions = feed(controller, clock, [rate(recovery_level - 20), rate(recovery_level)] * 500)

    assert {d.mode for d in decisions} == {"queue"}


def test_returns_to_single_only_after_the_cooldown(
    controller: Controller, clock: FakeClock
) -> None:
    to_queue(controller, clock)
    waiting = feed(controller, clock, [rate(100)] * (ticks(LIMITS.cooldown_seconds) - 1))
    assert {d.mode for d in waiting} == {"queue"}

    back = controller.observe(rate(100))

    assert back.changed and back.mode == "single" and back.previous == "queue"
    assert [e.kind for e in back.events] == [THRESHOLD_CLEARED, MODE_CHANGED]
    assert "queues are drained" in back.reason


def test_recovery_waits_for_the_queues_to_drain(controller: Controller, clock: FakeClock) -> None:
    to_queue(controller, clock)
    busy = feed(controller, clock, [rate(100)] * ticks(3 * LIMITS.cooldown_seconds), drained=False)
    assert {d.mode for d in busy} == {"queue"}

    assert controller.observe(rate(100), queues_drained=True).mode == "single"


def test_recovery_needs_every_signal_under_the_recovery_level(
    controller: Controller, clock: FakeClock
) -> None:
    to_queue(controller, clock)
    in_band = Signals(webhooks_per_hour=100, exec_p95_seconds=2, memory_percent=60)  # 56 < 60 < 80

    decisions = feed(controller, clock, [in_band] * ticks(3 * LIMITS.cooldown_seconds))

    assert {d.mode for d in decisions} == {"queue"}
    assert THRESHOLD_CLEARED in kinds(decisions)  # the rate did clear; memory holds queue mode


def test_a_failed_signal_never_triggers(controller: Controller, clock: FakeClock) -> None:
    feed(controller, clock, [rate(600)] * 5)
    decisions = feed(controller, clock, [rate(None)] * 100)

    assert {d.mode for d in decisions} == {"single"}
    assert kinds(decisions) == []


def test_a_gap_in_a_signal_does_not_restart_its_sustain_timer(
    controller: Controller, clock: FakeClock
) -> None:
    half = ticks(LIMITS.sustain_seconds) // 2
    feed(controller, clock, [rate(600)] * half + [rate(None)] * half)

    assert controller.observe(rate(600)).mode == "queue"


def test_a_failed_signal_does_not_block_recovery(controller: Controller, clock: FakeClock) -> None:
    to_queue(controller, clock)
    blind_memory = Signals(webhooks_per_hour=100, exec_p95_seconds=None, memory_percent=None)

    decisions = feed(controller, clock, [blind_memory] * ticks(LIMITS.cooldown_seconds))

    assert decisions[-1].mode == "single"


def test_a_signal_that_goes_silent_while_over_blocks_recovery(
    controller: Controller, clock: FakeClock
) -> None:
    over = Signals(webhooks_per_hour=100, exec_p95_seconds=2, memory_percent=91)
    feed(controller, clock, [over] * ticks(LIMITS.sustain_seconds))
    assert controller.state.mode == "queue"
    n8n_down = Signals(webhooks_per_hour=100)  # n8n's sources fail: memory unknown

    decisions = feed(controller, clock, [n8n_down] * ticks(2 * LIMITS.cooldown_seconds))

    assert {d.mode for d in decisions} == {"queue"}
    n8n_back = Signals(webhooks_per_hour=100, exec_p95_seconds=2, memory_percent=40)
    assert feed(controller, clock, [n8n_back] * ticks(LIMITS.cooldown_seconds))[-1].mode == "single"


def test_a_blind_value_is_reportable_only_over_its_threshold() -> None:
    blind = frozenset({"exec_p95_seconds"})
    low = Signals(webhooks_per_hour=10, exec_p95_seconds=0.05, blind=blind)
    high = Signals(webhooks_per_hour=10, exec_p95_seconds=45, blind=blind)
    seen = Signals(webhooks_per_hour=10, exec_p95_seconds=0.05)

    assert low.reportable(LIMITS).to_dict()["exec_p95_seconds"] is None
    assert low.reportable(LIMITS).webhooks_per_hour == 10
    assert high.reportable(LIMITS).exec_p95_seconds == 45
    assert seen.reportable(LIMITS) == seen


def test_a_blind_signal_can_escalate(controller: Controller, clock: FakeClock) -> None:
    slow = Signals(
        webhooks_per_hour=100, exec_p95_seconds=45, blind=frozenset({"exec_p95_seconds"})
    )

    decisions = feed(controller, clock, [slow] * ticks(LIMITS.sustain_seconds))

    assert decisions[-1].mode == "queue"


def test_a_blind_signal_is_no_evidence_of_calm(controller: Controller, clock: FakeClock) -> None:
    to_queue(controller, clock)
    # Only the blind answer time is seen, and it is low: that proves nothing.
    blind_only = Signals(exec_p95_seconds=0.05, blind=frozenset({"exec_p95_seconds"}))

    decisions = feed(controller, clock, [blind_only] * ticks(3 * LIMITS.cooldown_seconds))

    assert {d.mode for d in decisions} == {"queue"}
    seen = Signals(webhooks_per_hour=100, exec_p95_seconds=0.05, blind=blind_only.blind)
    assert feed(controller, clock, [seen] * ticks(LIMITS.cooldown_seconds))[-1].mode == "single"


def test_no_observed_signal_at_all_never_recovers(controller: Controller, clock: FakeClock) -> None:
    to_queue(controller, clock)

    decisions = feed(controller, clock, [Signals()] * ticks(3 * LIMITS.cooldown_seconds))

    assert {d.mode for d in decisions} == {"queue"}


def test_without_a_queue_it_stays_single_and_says_so_once(
    controller: Controller, clock: FakeClock
) -> None:
    decisions = feed(controller, clock, [rate(600)] * 200, available=False)

    assert {d.mode for d in decisions} == {"single"}
    assert kinds(decisions) == [THRESHOLD_CROSSED, QUEUE_UNAVAILABLE]
    unavailable = decisions[ticks(LIMITS.sustain_seconds) - 1].events[1]
    assert unavailable.signal == "webhooks_per_hour" and "needs Redis" in unavailable.message


def test_queue_unavailable_is_raised_again_for_a_new_crossing(
    controller: Controller, clock: FakeClock
) -> None:
    episode = [rate(600)] * ticks(LIMITS.sustain_seconds)
    calm = [rate(100)] * ticks(LIMITS.cooldown_seconds)

    decisions = feed(controller, clock, episode + calm + episode, available=False)

    assert kinds(decisions) == [
        THRESHOLD_CROSSED,
        QUEUE_UNAVAILABLE,
        THRESHOLD_CLEARED,
        THRESHOLD_CROSSED,
        QUEUE_UNAVAILABLE,
    ]


def test_the_state_round_trips_through_json_and_another_controller_continues_it(
    clock: FakeClock,
) -> None:
    first = Controller(LIMITS, clock)
    feed(first, clock, [rate(600)] * (ticks(LIMITS.sustain_seconds) - 1))
    saved = json.dumps(first.state.to_dict())

    second = Controller(LIMITS, clock, ControllerState.from_dict(json.loads(saved)))

    assert second.state == first.state
    assert second.observe(rate(600)).mode == "queue"


def test_a_state_from_an_older_or_damaged_record_is_usable(clock: FakeClock) -> None:
    state = ControllerState.from_dict({"mode": "bogus", "signals": {"unknown": {}}})

    assert state.mode == "single"
    assert set(state.tracks) == {
        "webhooks_per_hour",
        "exec_p95_seconds",
        "memory_percent",
        "eventloop_lag_seconds",
    }
    assert Controller(LIMITS, clock, state).observe(CALM).mode == "single"


def test_thresholds_come_from_the_settings() -> None:
    settings = load_settings(
        SIDECAR_THRESHOLD_WEBHOOKS_PER_HOUR=30,
        SIDECAR_THRESHOLD_EXEC_SECONDS=5,
        SIDECAR_THRESHOLD_MEMORY_PERCENT=90,
        SIDECAR_SUSTAIN_SECONDS=2,
        SIDECAR_COOLDOWN_SECONDS=5,
        SIDECAR_RECOVERY_RATIO=0.5,
        SIDECAR_THRESHOLD_EVENTLOOP_LAG_SECONDS=0.25,
    )

    limits = Thresholds.from_settings(settings)

    assert limits == Thresholds(30, 5, 90, 2, 5, 0.5, 0.25)
    assert limits.recovery_limit("memory_percent") == 45


# --- what the controller reports (its texts and records are read by operators and Redis) ---


def test_events_and_reasons_say_what_happened(controller: Controller, clock: FakeClock) -> None:
    hot = feed(controller, clock, [rate(600)] * ticks(LIMITS.sustain_seconds))
    crossed, changed = hot[-1].events
    assert (crossed.kind, crossed.message) == (
        THRESHOLD_CROSSED,
        "webhooks_per_hour 600 over 500 for 300 s",
    )
    assert (changed.kind, changed.message) == (
        MODE_CHANGED,
        "single → queue: webhooks_per_hour 600 over 500 for 300 s",
    )

    switched_at = clock.now + STEP * (ticks(LIMITS.cooldown_seconds) - 1)
    calm = feed(controller, clock, [rate(100)] * ticks(LIMITS.cooldown_seconds))
    cleared, back = calm[-1].events
    assert (cleared.kind, cleared.message, cleared.signal, cleared.value, cleared.threshold) == (
        THRESHOLD_CLEARED,
        "webhooks_per_hour 100 under 350 for 1800 s",
        "webhooks_per_hour",
        100,
        500,
    )
    why = "every signal under 70% of its threshold for 1800 s and the queues are drained"
    assert back.message == f"queue → single: {why}"
    state = controller.state
    assert (state.mode, state.reason, state.since) == ("single", why, switched_at)
    assert state.tracks["webhooks_per_hour"].crossed is False


def test_queue_unavailable_names_the_value_and_threshold_and_clears_once_switched(
    controller: Controller, clock: FakeClock
) -> None:
    blocked = feed(controller, clock, [rate(600)] * ticks(LIMITS.sustain_seconds), available=False)
    unavailable = blocked[-1].events[-1]
    assert (unavailable.kind, unavailable.value, unavailable.threshold) == (
        QUEUE_UNAVAILABLE,
        600,
        500,
    )
    assert controller.state.queue_blocked is True

    assert controller.observe(rate(600), queue_available=True).mode == "queue"
    assert controller.state.queue_blocked is False


def test_a_state_away_from_every_default_round_trips(clock: FakeClock) -> None:
    state = ControllerState(
        mode="queue",
        reason="memory",
        since=12.5,
        queue_blocked=True,
        tracks={
            "webhooks_per_hour": SignalTrack(over_since=1.0, under_since=None, crossed=True),
            "exec_p95_seconds": SignalTrack(over_since=None, under_since=2.0, crossed=False),
            "memory_percent": SignalTrack(over_since=3.0, under_since=4.0, crossed=True),
            "eventloop_lag_seconds": SignalTrack(over_since=5.0, under_since=6.0, crossed=True),
        },
    )
    saved = state.to_dict()

    assert set(saved) == {"mode", "reason", "since", "queue_blocked", "signals"}
    assert ControllerState.from_dict(json.loads(json.dumps(saved))) == state


def test_missing_fields_read_as_fresh_values() -> None:
    state = ControllerState.from_dict({"signals": {"memory_percent": {}}})

    assert state == ControllerState(reason="", since=0.0)
    assert state.queue_blocked is False
    assert all(track.crossed is False for track in state.tracks.values())


def test_decisions_and_samples_as_json() -> None:
    sample = Signals(webhooks_per_hour=1, exec_p95_seconds=2, memory_percent=None)
    assert sample.to_dict() == {
        "webhooks_per_hour": 1,
        "exec_p95_seconds": 2,
        "memory_percent": None,
        "eventloop_lag_seconds": None,
    }
    event = Event(MODE_CHANGED, "single → queue: why")
    decision = Decision(mode="queue", changed=True, reason="why", previous="single", events=[event])
    assert decision.to_dict() == {
        "mode": "queue",
        "changed": True,
        "reason": "why",
        "previous": "single",
        "events": [
            {
                "kind": MODE_CHANGED,
                "message": "single → queue: why",
                "signal": None,
                "value": None,
                "threshold": None,
            }
        ],
    }
