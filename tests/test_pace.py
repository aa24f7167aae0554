"""The adaptive pace (issue 14 item 2): a pure AIMD controller with an injected clock, and
the gate's ramp after the circuit closes (real Redis, a stub readiness check)."""

from __future__ import annotations

import redis

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.settings import load_settings
from sidecar.worker.circuit import Circuit
from sidecar.worker.gate import Gate
from sidecar.worker.pace import Pace
from sidecar.worker.policy import Outcome


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fast_answers(pace: Pace, count: int, seconds: float = 0.01) -> None:
    for _ in range(count):
        pace.answered(seconds, 200)


def test_grows_by_about_one_per_round_of_fast_answers() -> None:
    pace = Pace(ceiling=50, target=0.1, clock=Clock(), start=1)
    fast_answers(pace, 1)
    assert pace.limit == 2
    fast_answers(pace, 3)  # about a round of answers at 2
    assert pace.value > 2.8
    fast_answers(pace, sum(range(3, 10)))  # the rounds at 3 … 9
    assert 9 <= pace.limit <= 10


def test_never_passes_the_ceiling_or_the_floor() -> None:
    clock = Clock()
    pace = Pace(ceiling=4, target=0.1, clock=clock, start=1)
    fast_answers(pace, 100)
    assert pace.limit == 4
    for _ in range(10):
        clock.now += 10
        pace.answered(0.01, 503)
    assert pace.limit == 1


def test_halves_on_429_503_and_timeouts_once_per_cool_down() -> None:
    clock = Clock()
    pace = Pace(ceiling=64, target=0.1, clock=clock, start=32)
    pace.answered(0.02, 429)
    assert pace.limit == 16
    pace.answered(0.02, 503)  # same burst of bad answers: counted once
    pace.timed_out(0.02)
    assert pace.limit == 16
    clock.now += 1
    pace.timed_out(0.5)
    assert pace.limit == 8
    clock.now += 1
    pace.answered(0.02, 503)
    assert pace.limit == 4
    assert pace.cuts == 3


def test_other_errors_do_not_slow_it_down() -> None:
    pace = Pace(ceiling=64, target=0.1, clock=Clock(), start=10)
    pace.answered(0.01, 500)
    pace.answered(0.01, 404)
    assert pace.limit == 10
    assert pace.cuts == 0


def test_a_workflow_slow_by_nature_still_lets_it_grow() -> None:
    pace = Pace(ceiling=64, target=0.1, clock=Clock(), start=10)
    for _ in range(100):
        pace.answered(1.5, 200)  # over the target, but as slow as usual: n8n is not loaded
    assert pace.limit > 10


def test_answers_slowing_down_past_the_target_shrink_it_gently() -> None:
    pace = Pace(ceiling=64, target=0.1, clock=Clock(), start=10)
    fast_answers(pace, 5, seconds=0.05)
    for _ in range(20):
        pace.answered(0.12, 200)  # over the target, 2.4 x the usual: n8n is loaded
    assert 7 <= pace.limit < 10
    assert pace.cuts == 0  # no halving


def test_a_sharp_rise_in_answer_time_halves_it() -> None:
    clock = Clock()
    pace = Pace(ceiling=64, target=1.0, clock=clock, start=20)
    fast_answers(pace, 20, seconds=0.02)
    before = pace.limit
    clock.now += 1
    pace.answered(0.2, 200)  # ten times the usual answer time
    assert pace.limit == before // 2


def test_it_starts_at_the_floor_and_restart_ramps_from_there_again() -> None:
    pace = Pace(ceiling=30, target=0.1, clock=Clock())
    assert pace.limit == 1
    fast_answers(pace, 1000)
    assert pace.limit == 30
    pace.restart()
    assert pace.limit == 1
    fast_answers(pace, 10)
    assert 1 < pace.limit < 30


class ReadyUpstream:
    def ready(self) -> tuple[bool, str]:
        return True, "HTTP 200"


def test_the_gate_holds_while_open_and_ramps_after_the_probe_closes_it(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    settings = load_settings(REDIS_URL=redis_url)
    gate = Gate(settings, client, ReadyUpstream(), "worker-1", concurrency=20)  # type: ignore[arg-type]
    for _ in range(300):
        gate.observe(Outcome("done", status=200, duration=0.01))
    assert gate.slots() == 20
    gate.observe(Outcome("hold", error="refused", signal="not_reached"))
    assert client.exists(DEFAULT_KEYS.n8n_circuit)
    assert gate.slots() == 0  # held: nothing goes out
    client.delete(DEFAULT_KEYS.n8n_probe)  # the first probe's wait is over
    gate.tick()  # the probe finds n8n ready, closes the circuit
    assert not Circuit(client, DEFAULT_KEYS).state().open
    assert gate.slots() == 1  # the ramp starts at the floor
    for _ in range(30):
        gate.observe(Outcome("done", status=200, duration=0.01))
    assert 1 < gate.slots() < 20
    assert int(client.hget(DEFAULT_KEYS.pace, "worker-1") or 0) >= 1


def test_a_delivery_stuck_far_longer_than_usual_stops_holding_a_slot(redis_url: str) -> None:
    clock = Clock()
    client = redis.Redis.from_url(redis_url)
    settings = load_settings(REDIS_URL=redis_url)
    gate = Gate(settings, client, ReadyUpstream(), "w", concurrency=10, clock=clock)  # type: ignore[arg-type]
    gate.observe(Outcome("done", status=200, duration=0.02))
    sent = [clock.now]
    assert gate.counted(sent) == 1
    clock.now += 4.9
    assert gate.counted(sent) == 1
    clock.now += 0.2  # past max(5 s, 10 x the usual 20 ms): presumed stuck
    assert gate.counted(sent) == 0
