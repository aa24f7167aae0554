"""The signal / mode / queue history in a real Redis: one row a minute, seven days kept,
gaps for failed sources, and what a full week costs in memory."""

from __future__ import annotations

import redis

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.mode.controller import Signals
from sidecar.mode.history import (
    QUEUE_FIELDS,
    RETENTION_MINUTES,
    SIGNAL_FIELDS,
    SIGNALS_SERIES,
    History,
    HistoryRecorder,
    column,
    queue_series,
)

T0 = 1_800_000_000.0  # a minute boundary
QUEUE = "flrts:webhooks:inbound"
WEEK_BUDGET_BYTES = 1_500_000  # per series; docs/operations.md quotes the measured value


def test_a_later_sample_in_the_same_minute_replaces_the_earlier_one(rdb: redis.Redis) -> None:
    history = History(rdb, DEFAULT_KEYS)
    history.record(T0 + 5, Signals(100, 2, 40), "single", {})
    history.record(T0 + 50, Signals(120, 3, 41), "queue", {})
    history.record(T0 + 65, Signals(130, 4, 42), "queue", {})

    rows = history.rows(SIGNALS_SERIES, 0)

    assert [(r.at, r.values) for r in rows] == [
        (T0, (120.0, 3.0, 41.0, None, 1.0)),
        (T0 + 60, (130.0, 4.0, 42.0, None, 1.0)),
    ]


def test_a_failed_source_is_a_gap_not_a_zero(rdb: redis.Redis) -> None:
    history = History(rdb, DEFAULT_KEYS)
    history.record(T0, Signals(100, None, 40), "single", {})
    history.record(T0 + 60, Signals(110, 7.5, 40), "single", {})

    rows = history.rows(SIGNALS_SERIES, 0)

    assert column(rows, SIGNAL_FIELDS, "exec_p95_seconds") == [(T0 + 60, 7.5)]
    assert column(rows, SIGNAL_FIELDS, "webhooks_per_hour") == [(T0, 100), (T0 + 60, 110)]


def test_an_idle_queue_writes_nothing_and_a_busy_one_a_row(rdb: redis.Redis) -> None:
    history = History(rdb, DEFAULT_KEYS)
    idle = {"depth": 0, "processed": 0, "failed": 0}
    busy = {"depth": 12, "processed": 30, "failed": 2}
    history.record(T0, Signals(), "queue", {"flrts:tasks:sync": idle, QUEUE: busy})

    assert history.rows(queue_series("flrts:tasks:sync"), 0) == []
    rows = history.rows(queue_series(QUEUE), 0)
    assert [column(rows, QUEUE_FIELDS, f) for f in QUEUE_FIELDS] == [
        [(T0, 12)],
        [(T0, 30)],
        [(T0, 2)],
    ]


def test_points_older_than_seven_days_are_trimmed(rdb: redis.Redis) -> None:
    history = History(rdb, DEFAULT_KEYS, retention_minutes=3)
    for minute in range(5):
        history.record(T0 + minute * 60, Signals(minute, 1, 1), "single", {})

    rows = history.rows(SIGNALS_SERIES, 0)

    assert [r.values[0] for r in rows] == [2, 3, 4]


def test_a_full_week_stays_bounded_and_its_memory_is_measured(rdb: redis.Redis) -> None:
    """A week and an hour of realistic rows: exactly a week is kept; MEMORY USAGE per key."""
    history = History(rdb, DEFAULT_KEYS)
    minutes = RETENTION_MINUTES + 60
    for m in range(minutes):
        at = T0 + m * 60
        signals = Signals(200 + m % 700 + 0.5, 4.25 + m % 30 / 4, 40 + m % 50 / 10)
        queue = {QUEUE: {"depth": 1 + m % 400, "processed": m % 60, "failed": m % 3}}
        history.record(at, signals, "queue" if m % 500 < 100 else "single", queue)

    sizes = history.memory_bytes()

    assert len(history.rows(SIGNALS_SERIES, 0)) == RETENTION_MINUTES
    assert len(history.rows(queue_series(QUEUE), 0)) == RETENTION_MINUTES
    assert set(sizes) == {"sidecar:history:signals", f"sidecar:history:{queue_series(QUEUE)}"}
    print(f"history memory for a full week: {sizes}")  # the figures quoted in the docs
    assert all(0 < size < WEEK_BUDGET_BYTES for size in sizes.values())


def test_the_recorder_never_raises_when_redis_is_down(dead_redis: redis.Redis) -> None:
    record = HistoryRecorder(dead_redis, "flrts", clock=lambda: T0)

    assert record(Signals(1, 2, 3), "single") is None  # logged, and the tick goes on
