"""The shared mode in a real Redis: caching, pins, the evaluator lock, history, Redis down."""

from __future__ import annotations

import json
import time
import types

import pytest
import redis

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.errors import BackendUnavailable
from sidecar.mode import store as mode_store_module
from sidecar.mode.controller import ControllerState, Decision, Signals, SignalTrack, Thresholds
from sidecar.mode.local_store import LocalModeStore, open_store
from sidecar.mode.lock import EvaluatorLock
from sidecar.mode.report import mode_report
from sidecar.mode.sources import signal_sources
from sidecar.mode.store import ModeStore
from sidecar.settings import load_settings


class CountingStore(ModeStore):
    """A ModeStore that counts its Redis reads."""

    reads = 0

    def read(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().read()


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """ModeStore's cache clock (time.monotonic in sidecar.mode.store only), frozen."""
    fake = FakeClock()
    frozen = types.SimpleNamespace(monotonic=fake, time=time.time)
    monkeypatch.setattr(mode_store_module, "time", frozen)
    return fake


def switch(before: str, after: str, reason: str = "test") -> Decision:
    """A decision that switches `before` → `after`."""
    return Decision(mode=after, changed=True, reason=reason, previous=before)


def wait_until(predicate, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    """Poll `predicate` until true; the seconds it took. AssertionError on timeout."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached"
        time.sleep(0.01)
    return time.monotonic() - started


def test_an_empty_redis_means_single_mode(rdb: redis.Redis) -> None:
    view = ModeStore(rdb, DEFAULT_KEYS).current()

    assert (view.mode, view.pinned, view.source) == ("single", False, "default")


def test_two_gateways_agree_within_the_cache_time(
    rdb: redis.Redis, redis_url: str, clock: FakeClock
) -> None:
    other_client = redis.Redis.from_url(redis_url)
    here, there = (
        ModeStore(rdb, DEFAULT_KEYS, cache_seconds=0.3),
        ModeStore(other_client, DEFAULT_KEYS, cache_seconds=0.3),
    )
    assert there.current().mode == "single"  # cached now

    here.pin("queue")

    assert here.current().mode == "queue"  # the writer sees its own change at once
    clock.advance(0.29)
    assert there.current().mode == "single"  # the other one still answers from its cache
    clock.advance(0.02)
    assert there.current().mode == "queue"  # the cache time is over: it reads Redis again
    other_client.close()


def test_current_does_not_ask_redis_while_cached(rdb: redis.Redis) -> None:
    store = CountingStore(rdb, DEFAULT_KEYS, cache_seconds=60)
    for _ in range(1000):
        assert store.current().mode == "single"

    assert store.reads == 1


def test_when_redis_is_unreachable_gateways_fall_back_to_single(
    rdb: redis.Redis, dead_redis: redis.Redis, clock: FakeClock
) -> None:
    ModeStore(rdb, DEFAULT_KEYS).pin("queue")
    store = CountingStore(dead_redis, DEFAULT_KEYS, cache_seconds=0.2)

    view = store.current()
    for _ in range(100):
        store.current()

    assert (view.mode, view.source) == ("single", "fallback")
    assert "Redis unreachable" in view.reason
    assert store.reads == 1  # the failure is cached too: a dead Redis is not hammered
    store.client = rdb
    clock.advance(0.21)
    assert store.current().mode == "queue"


def test_a_pin_wins_over_the_controller_and_unpin_keeps_the_mode(rdb: redis.Redis) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS)
    pinned = store.pin("queue", by="operator")
    assert (pinned.mode, pinned.pinned, pinned.pinned_by) == ("queue", True, "operator")

    assert store.record(switch("queue", "single"), ControllerState(mode="single"), None) is False
    assert store.read().mode == "queue"

    unpinned = store.unpin()
    assert (unpinned.mode, unpinned.pinned) == ("queue", False)
    assert unpinned.since == pinned.since
    state = store.controller_state()
    assert state is not None and state.mode == "queue"
    assert all(track == SignalTrack() for track in state.tracks.values())  # fresh timers
    assert [(h["to"], h["pinned"], h["by"]) for h in store.history()] == [
        ("queue", False, "operator"),
        ("queue", True, "operator"),
    ]


def test_pinning_an_unknown_mode_is_refused(rdb: redis.Redis) -> None:
    with pytest.raises(ValueError, match="single, queue"):
        ModeStore(rdb, DEFAULT_KEYS).pin("auto")


def test_a_recorded_switch_is_the_new_mode_with_its_history(rdb: redis.Redis) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS)
    state = ControllerState(mode="queue", reason="webhooks_per_hour 600 over 500", since=1234.5)

    assert store.record(switch("single", "queue", state.reason), state, None)

    view = store.read()
    assert (view.mode, view.reason, view.since) == ("queue", state.reason, 1234.5)
    assert not view.pinned
    assert store.controller_state() == state
    entry = store.history()[0]
    assert entry["from"] == "single" and entry["to"] == "queue" and entry["by"] == "controller"


def test_history_is_capped(rdb: redis.Redis) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS, history_size=5)
    for n in range(12):
        store.pin("queue" if n % 2 else "single", reason=f"pin {n}")

    assert rdb.llen(DEFAULT_KEYS.mode_history) == 5
    assert [entry["reason"] for entry in store.history()] == [f"pin {n}" for n in range(11, 6, -1)]


def test_one_evaluator_at_a_time_and_a_dead_one_hands_over(rdb: redis.Redis) -> None:
    first, second = (
        EvaluatorLock(rdb, ttl_seconds=30, key=DEFAULT_KEYS.mode_evaluator),
        EvaluatorLock(rdb, ttl_seconds=30, key=DEFAULT_KEYS.mode_evaluator),
    )
    assert first.acquire()
    assert 20_000 < rdb.pttl(DEFAULT_KEYS.mode_evaluator) <= 30_000  # seconds, not milliseconds
    assert not second.acquire()
    rdb.pexpire(DEFAULT_KEYS.mode_evaluator, 5_000)  # as if 25 s had passed
    assert first.acquire()  # renewed: a full TTL again
    assert rdb.pttl(DEFAULT_KEYS.mode_evaluator) > 20_000
    assert not second.acquire()

    rdb.pexpire(
        DEFAULT_KEYS.mode_evaluator, 1
    )  # the first stops renewing ("died"): its TTL runs out
    wait_until(second.acquire, timeout=10)

    assert second.holder() == second.token
    store, state = ModeStore(rdb, DEFAULT_KEYS), ControllerState(mode="queue")
    assert store.record(switch("single", "queue"), state, first.token) is False  # stale
    assert store.read().source == "default"
    assert store.record(switch("single", "queue"), state, second.token) is True


def test_releasing_the_lock_hands_over_at_once(rdb: redis.Redis) -> None:
    first, second = (
        EvaluatorLock(rdb, ttl_seconds=30, key=DEFAULT_KEYS.mode_evaluator),
        EvaluatorLock(rdb, ttl_seconds=30, key=DEFAULT_KEYS.mode_evaluator),
    )
    assert first.acquire()
    second.release()  # not the holder: nothing happens
    assert not second.acquire()

    first.release()

    assert second.acquire()


def test_sidecar_mode_is_applied_at_start(rdb: redis.Redis) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS)

    assert store.apply_configured("queue").pinned_by == "config"
    assert store.apply_configured("queue").mode == "queue"
    assert len(store.history()) == 1  # a restart with the same setting adds nothing
    view = store.apply_configured("auto")
    assert (view.mode, view.pinned) == ("queue", False)

    store.pin("single", by="operator")
    assert store.apply_configured("auto").pinned_by == "operator"  # a run-time pin survives


def test_store_errors_are_backend_unavailable(dead_redis: redis.Redis) -> None:
    store = ModeStore(dead_redis, DEFAULT_KEYS)

    with pytest.raises(BackendUnavailable):
        store.pin("queue")
    with pytest.raises(BackendUnavailable):
        EvaluatorLock(dead_redis, 1, DEFAULT_KEYS.mode_evaluator).acquire()


def test_without_redis_the_store_is_local_and_single() -> None:
    store = open_store(None, DEFAULT_KEYS)
    assert isinstance(store, LocalModeStore)

    with pytest.raises(BackendUnavailable, match="needs Redis"):
        store.pin("queue")
    assert store.pin("single").pinned
    assert store.record(switch("single", "queue"), ControllerState(mode="queue"), None) is False
    store.unpin()
    calm = Decision(mode="single", changed=False, reason="calm", previous="single")
    assert store.record(calm, ControllerState(), None) is True
    assert store.controller_state() == ControllerState()
    assert store.current().mode == "single"
    assert [entry["pinned"] for entry in store.history()] == [False, True]


def test_the_report_shows_each_signal_against_its_threshold(
    rdb: redis.Redis, dead_redis: redis.Redis
) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS)
    store.pin("queue")
    store.save_signals(
        Signals(webhooks_per_hour=600, exec_p95_seconds=None, memory_percent=60),
        errors={"exec_p95_seconds": "n8n answered 401"},
    )

    report = mode_report(store, Thresholds())

    assert (report["mode"], report["pinned"], report["source"]) == ("queue", True, "redis")
    assert report["signals"]["webhooks_per_hour"] == {
        "value": 600,
        "threshold": 500,
        "recoveryBelow": 350,
        "state": "over",
        "error": None,
        "source": None,
        "blind": False,
        "note": None,
    }
    assert report["signals"]["exec_p95_seconds"]["state"] == "unknown"
    assert report["signals"]["exec_p95_seconds"]["error"] == "n8n answered 401"
    assert report["signals"]["memory_percent"]["state"] == "between"
    assert report["sampledAt"].endswith("Z") and len(report["history"]) == 1
    json.dumps(report)

    down = mode_report(ModeStore(dead_redis, DEFAULT_KEYS), Thresholds())
    assert (down["mode"], down["source"], down["since"], down["history"]) == (
        "single",
        "fallback",
        None,
        [],
    )


def test_a_blind_signal_shows_what_to_set_never_a_reassuring_number(rdb: redis.Redis) -> None:
    store = ModeStore(rdb, DEFAULT_KEYS)
    settings = load_settings(N8N_URL="http://n8n:5678")  # no SIDECAR_N8N_API_KEY
    store.save_signals(Signals(webhooks_per_hour=10, exec_p95_seconds=0.04, memory_percent=50))

    report = mode_report(store, Thresholds(), sources=signal_sources(settings))

    execution = report["signals"]["exec_p95_seconds"]
    assert execution["value"] is None and execution["state"] == "unknown"
    assert execution["note"] == "unknown (set SIDECAR_N8N_API_KEY)"
    assert (execution["source"], execution["blind"]) == ("answer time", True)
    assert report["signals"]["memory_percent"]["source"] == "host"
    assert report["signals"]["eventloop_lag_seconds"]["source"] == "n8n metrics"
    assert report["signals"]["webhooks_per_hour"]["value"] == 10

    store.save_signals(Signals(exec_p95_seconds=45.0))  # over: an answer that slow is evidence
    slow = mode_report(store, Thresholds(), sources=signal_sources(settings))
    assert slow["signals"]["exec_p95_seconds"]["value"] == 45.0
    assert slow["signals"]["exec_p95_seconds"]["state"] == "over"
    assert slow["signals"]["exec_p95_seconds"]["note"] is None

    keyed = load_settings(N8N_URL="http://n8n:5678", SIDECAR_N8N_API_KEY="k")
    store.save_signals(Signals(exec_p95_seconds=0.04))
    seen = mode_report(store, Thresholds(), sources=signal_sources(keyed))
    assert seen["signals"]["exec_p95_seconds"]["value"] == 0.04
    assert seen["signals"]["exec_p95_seconds"]["source"] == "n8n API"
