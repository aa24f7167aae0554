"""The monitor with a real Redis and a real alert receiver, ticked by hand on a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from support.alert_receiver import AlertReceiver

from sidecar.alerts import Alerter
from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.backend.queue_names import dead_letter_queue, inbound_queue
from sidecar.harness.waiting import wait_until
from sidecar.mode.counters import SignalCounters
from sidecar.mode.history import SIGNALS_SERIES, History, HistoryRecorder
from sidecar.mode.latency import LatencyReservoir
from sidecar.mode.local_store import open_store
from sidecar.mode.monitor import Monitor, SignalFlusher
from sidecar.mode.rate import RateCounter
from sidecar.mode.signals import SignalSampler
from sidecar.queues.jobs import queue_key
from sidecar.settings import Settings, load_settings

PREFIX = "flrts"
SMALL = {
    "N8N_URL": "http://127.0.0.1:9",
    "SIDECAR_THRESHOLD_WEBHOOKS_PER_HOUR": 30,
    "SIDECAR_SUSTAIN_SECONDS": 2,
    "SIDECAR_COOLDOWN_SECONDS": 5,
    "SIDECAR_MONITOR_INTERVAL_SECONDS": 0.05,
}


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as server:
        yield server


@pytest.fixture
def cgroup(tmp_path: Path) -> Path:
    """A fake cgroup v2 at 40 % of its limit, so the memory signal is steady."""
    (tmp_path / "memory.max").write_text("1000000\n")
    (tmp_path / "memory.current").write_text("400000\n")
    return tmp_path


@pytest.fixture
def build(receiver: AlertReceiver, cgroup: Path) -> Iterator[Callable[..., Monitor]]:
    """Monitors on the fake clock with their own counters; stopped after the test."""
    made: list[Monitor] = []

    def make(
        client: redis.Redis | None, clock: FakeClock, env: dict | None = None, **options
    ) -> Monitor:
        settings = settings_for(client, env)
        sampler = SignalSampler(
            settings,
            client,
            rate=RateCounter(clock),
            latency=LatencyReservoir(clock, window_seconds=2),
            cgroup_root=cgroup,
            clock=clock,
        )
        alerter = Alerter(
            client, receiver.url, settings.cooldown_seconds, retry_wait=0.05, keys=DEFAULT_KEYS
        )
        options = {"alerter": alerter, "sampler": sampler, "clock": clock, **options}
        monitor = Monitor(settings, client, **options)
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.stop(1)


def settings_for(client: redis.Redis | None, env: dict | None = None) -> Settings:
    """Small thresholds; REDIS_URL of `client` when there is one."""
    redis_env = {}
    if client is not None:
        kwargs = client.connection_pool.connection_kwargs
        redis_env = {"REDIS_URL": f"redis://{kwargs['host']}:{kwargs['port']}/0"}
    return load_settings(**{**SMALL, **redis_env, **(env or {})})


def run(monitor: Monitor, clock: FakeClock, seconds: float, webhooks_per_tick: int = 0) -> list:
    """Tick once a second for `seconds` (both ends included), recording webhooks first."""
    ticks = []
    for _ in range(int(seconds) + 1):
        monitor.sampler.rate.record(webhooks_per_tick)
        ticks.append(monitor.tick())
        clock.advance(1)
    return ticks


def kinds(receiver: AlertReceiver, count: int) -> list[str]:
    """The kinds of the first `count` alerts received."""
    return [alert["kind"] for alert in receiver.wait_for(count)]


def test_load_switches_to_queue_and_back_after_cooldown_and_drain(
    build, rdb: redis.Redis, receiver: AlertReceiver
) -> None:
    clock = FakeClock()
    monitor = build(rdb, clock)

    ticks = run(monitor, clock, 3, webhooks_per_tick=20)  # 20, 40, 60, 80 webhooks in the hour

    assert [t.outcome for t in ticks] == ["evaluated"] * 4
    assert [t.view.mode for t in ticks] == ["single", "single", "single", "queue"]
    assert ticks[-1].signals.webhooks_per_hour == 80
    assert monitor.store.current().mode == "queue"
    assert kinds(receiver, 2) == ["threshold_crossed", "mode_changed"]
    events = [fields[b"type"] for _, fields in rdb.xrange(DEFAULT_KEYS.events)]
    assert events.count(b"mode_changed") == 1 and events.count(b"alert") == 2

    clock.advance(3600)  # the hour of traffic leaves the window
    rdb.rpush(queue_key(inbound_queue(PREFIX)), "job-still-waiting")
    assert {t.view.mode for t in run(monitor, clock, 10)} == {"queue"}  # not drained

    rdb.delete(queue_key(inbound_queue(PREFIX)))
    back = monitor.tick()

    assert back.decision.changed and back.view.mode == "single"
    assert kinds(receiver, 4)[2:] == ["threshold_cleared", "mode_changed"]
    history = monitor.store.history()
    assert [(h["from"], h["to"]) for h in history] == [("queue", "single"), ("single", "queue")]


def test_a_pin_stops_the_controller_and_is_announced(
    build, rdb: redis.Redis, receiver: AlertReceiver
) -> None:
    clock = FakeClock()
    monitor = build(rdb, clock)
    monitor.tick()
    monitor.store.pin("queue", by="operator")

    ticks = run(monitor, clock, 3)

    assert {t.outcome for t in ticks} == {"pinned"}
    assert {t.view.mode for t in ticks} == {"queue"}
    assert monitor.store.last_signals()["values"]["memory_percent"] == 40.0  # still sampled
    [alert] = receiver.wait_for(1)
    assert alert["kind"] == "mode_changed" and "pinned to queue by operator" in alert["message"]

    monitor.store.unpin()
    ticks = run(monitor, clock, 3)
    assert {t.outcome for t in ticks} == {"evaluated"}
    assert {t.view.mode for t in ticks} == {"queue"}  # unpinning does not jump modes


def test_heavy_load_does_not_switch_a_mode_pinned_single(build, rdb: redis.Redis) -> None:
    clock = FakeClock()
    monitor = build(rdb, clock, {"SIDECAR_MODE": "single"})
    monitor.store.apply_configured("single")

    ticks = run(monitor, clock, 5, webhooks_per_tick=100)

    assert {(t.outcome, t.view.mode) for t in ticks} == {("pinned", "single")}


def test_two_gateways_one_evaluator_and_a_dead_one_hands_over(
    build, rdb: redis.Redis, redis_url: str
) -> None:
    clock = FakeClock()
    other = redis.Redis.from_url(redis_url)
    first = build(rdb, clock, lock_ttl_seconds=30)
    second = build(other, clock, lock_ttl_seconds=30)

    assert first.tick().outcome == "evaluated"
    assert second.tick().outcome == "follower"
    first.sampler.rate.record(50)
    second.sampler.rate.record(50)
    run(first, clock, 2)
    assert second.tick().view.mode == "queue"  # the follower follows the shared mode

    rdb.pexpire(
        DEFAULT_KEYS.mode_evaluator, 1
    )  # the first gateway "died": it stopped renewing, the TTL ran out
    wait_until(lambda: second.tick().outcome == "evaluated")
    assert first.tick().outcome == "follower"
    other.close()


def test_without_redis_it_stays_single_and_raises_queue_unavailable(
    build, receiver: AlertReceiver
) -> None:
    clock = FakeClock()
    monitor = build(None, clock, store=open_store(None, DEFAULT_KEYS))

    ticks = run(monitor, clock, 10, webhooks_per_tick=20)

    assert {t.view.mode for t in ticks} == {"single"}
    assert kinds(receiver, 2) == ["threshold_crossed", "queue_unavailable"]
    assert monitor.alerter.drain(2) and len(receiver.accepted) == 2
    assert "needs Redis" in receiver.accepted[1]["message"]


def test_redis_down_is_an_alert_not_a_crash(
    build, dead_redis: redis.Redis, receiver: AlertReceiver
) -> None:
    clock = FakeClock()
    monitor = build(dead_redis, clock)

    ticks = run(monitor, clock, 3, webhooks_per_tick=5)

    assert {t.outcome for t in ticks} == {"redis_unreachable"}
    assert kinds(receiver, 1) == ["redis_unreachable"]
    assert monitor.alerter.drain(2) and len(receiver.accepted) == 1  # once per cool-down


def test_health_alerts(build, rdb: redis.Redis, receiver: AlertReceiver) -> None:
    clock = FakeClock()
    monitor = build(rdb, clock, n8n_health=lambda: (False, "connection refused"))
    monitor.live_workers = lambda: 0
    monitor.store.pin("queue")
    monitor.tick()
    rdb.rpush(queue_key(dead_letter_queue(PREFIX)), "dead-1", "dead-2")

    monitor.tick()

    alerts = {a["kind"]: a for a in receiver.wait_for(3)}
    assert set(alerts) == {"n8n_unreachable", "no_workers", "dlq_growing"}
    assert "connection refused" in alerts["n8n_unreachable"]["message"]
    assert "from 0 to 2" in alerts["dlq_growing"]["message"]


def test_start_applies_sidecar_mode_and_stop_hands_the_lock_over(
    rdb: redis.Redis, redis_url: str, receiver: AlertReceiver
) -> None:
    settings = load_settings(**{**SMALL, "REDIS_URL": redis_url, "SIDECAR_MODE": "queue"})
    monitor = Monitor(
        settings, rdb, alerter=Alerter(rdb, receiver.url, 5, keys=DEFAULT_KEYS)
    ).start()
    try:
        wait_until(
            lambda: rdb.get(DEFAULT_KEYS.mode_evaluator) is not None,
            what="the monitor to take the lock",
        )
        view = monitor.store.read()
        assert (view.mode, view.pinned, view.pinned_by) == ("queue", True, "config")
    finally:
        monitor.stop(2)

    assert rdb.get(DEFAULT_KEYS.mode_evaluator) is None


def test_a_blind_low_answer_time_is_never_saved_or_published(build, rdb: redis.Redis) -> None:
    from sidecar.mode.metrics import SIGNAL

    clock = FakeClock()
    monitor = build(rdb, clock)  # no SIDECAR_N8N_API_KEY: the execution signal is blind
    monitor.sampler.latency.record(0.05)  # "respond immediately": a fast answer

    tick = monitor.tick()

    assert tick.signals.exec_p95_seconds == 0.05  # the controller still sees it
    assert monitor.store.last_signals()["values"]["exec_p95_seconds"] is None
    assert SIGNAL.labels(signal="exec_p95_seconds")._value.get() != 0.05
    monitor.sampler.latency.record(45.0)  # an answer that slow is evidence: shown
    monitor.sampler.latency.record(45.0)
    clock.advance(0.5)
    monitor.tick()
    assert monitor.store.last_signals()["values"]["exec_p95_seconds"] == 45.0


@pytest.mark.parametrize("api_key", [None, "n8n-api-key"])
def test_a_blind_signal_is_alerted_once_at_start_up(
    rdb: redis.Redis, redis_url: str, receiver: AlertReceiver, api_key: str | None
) -> None:
    key = {"SIDECAR_N8N_API_KEY": api_key} if api_key else {}
    settings = load_settings(**{**SMALL, "REDIS_URL": redis_url, "SIDECAR_MODE": "auto", **key})
    alerter = Alerter(rdb, receiver.url, 3600, keys=DEFAULT_KEYS)
    monitor = Monitor(settings, rdb, alerter=alerter).start()
    try:
        monitor.alert_blind_signals()  # a second time: still one alert (per cool-down)
        wait_until(
            lambda: rdb.get(DEFAULT_KEYS.mode_evaluator) is not None, 30, "the monitor's first tick"
        )
    finally:
        monitor.stop(5)  # finishes the queued alert POSTs

    blind = [a for a in receiver.accepted if a["kind"] == "signal_blind"]
    if api_key:
        assert blind == []
    else:
        assert len(blind) == 1
        assert "exec_p95_seconds" in blind[0]["message"]
        assert "unknown (set SIDECAR_N8N_API_KEY)" in blind[0]["message"]


def test_a_worker_flushes_its_answer_times(rdb: redis.Redis) -> None:
    counters = SignalCounters()
    counters.record_latency(4.2)
    flusher = SignalFlusher(rdb, DEFAULT_KEYS, interval=0.05, counters=counters).start()
    flusher.stop(1)

    members = [m.split(b":", 1)[0] for m in rdb.zrange(DEFAULT_KEYS.latency, 0, -1)]
    assert b"4.200000" in members


def test_only_the_evaluator_records_history_one_row_a_minute(
    build, rdb: redis.Redis, redis_url: str
) -> None:
    clock = FakeClock()
    other = redis.Redis.from_url(redis_url)
    evaluator = build(rdb, clock, history=HistoryRecorder(rdb, PREFIX, clock))
    follower = build(other, clock, history=HistoryRecorder(other, PREFIX, clock))
    rows = History(rdb, DEFAULT_KEYS)

    run(evaluator, clock, 2, webhooks_per_tick=5)  # 3 ticks within one minute
    assert follower.tick().outcome == "follower"
    clock.advance(60)
    run(evaluator, clock, 0)
    pinned = evaluator.store.pin("queue", by="test")
    clock.advance(60)
    assert evaluator.tick().outcome == "pinned"  # pinned: sampled and recorded all the same

    recorded = rows.rows(SIGNALS_SERIES, 0)
    assert [r.at for r in recorded] == [
        (clock.now - 120) // 60 * 60,
        (clock.now - 60) // 60 * 60,
        clock.now // 60 * 60,
    ]
    assert [r.values[0] for r in recorded] == [15, 15, 15]  # the minute's last sample
    assert [r.values[-1] for r in recorded] == [0, 0, 1]  # the mode: single, single, queue
    assert pinned.mode == "queue"
    other.close()
