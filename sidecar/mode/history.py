"""Bounded history of the signals, the mode and the queues, for `/status` and `status --watch`.

Key layout (KeySchema.history_prefix + series, shown for the default prefix; one sorted set
per series; score = the minute's start in unix seconds, member
= "<minute>:<field>:<field>…" so one minute holds one row, an empty field = not observed):

    sidecar:history:signals          webhooks_per_hour:exec_p95_seconds:memory_percent:
                                     eventloop_lag_seconds:mode (mode 1 = queue, 0 = single)
    sidecar:history:queue:<queue>    depth (waiting):processed:failed (per minute)

Rules:

* One point per series and minute: a later write in the same minute replaces the earlier
  one (the last sample of a minute wins), so a series never holds more than
  `RETENTION_MINUTES` points however often the monitor ticks.
* Points older than `RETENTION_MINUTES` (7 days) are trimmed on every write.
* One writer: only the gateway holding the evaluator lock records (monitor.py).
* A signal whose source failed is an empty field: a gap, not a zero. An idle queue (all
  three zero) writes no row: its chart reads a missing minute as zero.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema, keys_for_prefix
from sidecar.backend.queue_names import all_queues
from sidecar.mode.controller import QUEUE, SIGNAL_NAMES, Signals
from sidecar.queues.overview import queue_counts
from sidecar.queues.stats import queue_metrics

log = logging.getLogger("sidecar.mode.history")

SIGNALS_SERIES = "signals"
SIGNAL_FIELDS = (*SIGNAL_NAMES, "mode")
QUEUE_FIELDS = ("depth", "processed", "failed")
RETENTION_MINUTES = 7 * 24 * 60
MINUTE = 60


def queue_series(queue: str) -> str:
    """The series name of a queue's statistics."""
    return f"queue:{queue}"


@dataclass(frozen=True)
class Row:
    """One minute of a series: `at` is the minute's start (unix seconds), `values` its
    fields in order (None where nothing was observed)."""

    at: float
    values: tuple[float | None, ...]


def _member(minute: int, values: Iterable[float | None]) -> str:
    cells = ("" if v is None else f"{float(v):.6g}" for v in values)
    return ":".join([str(minute), *cells])


def _row(member: bytes | str) -> Row:
    text = member.decode() if isinstance(member, bytes) else member
    minute, *cells = text.split(":")
    return Row(int(minute) * MINUTE, tuple(float(c) if c else None for c in cells))


class History:
    """Read and write the history series. Parameters: `client`, `keys` (the key
    schema), `retention_minutes`."""

    def __init__(
        self,
        client: redis.Redis,
        keys: KeySchema,
        retention_minutes: int = RETENTION_MINUTES,
    ) -> None:
        self.client, self.retention_minutes = client, retention_minutes
        self.prefix = keys.history_prefix

    def write(self, at: float, rows: dict[str, tuple[float | None, ...]]) -> None:
        """Set each series' row for the minute of `at`, and trim what is too old."""
        minute = int(at // MINUTE)
        start, oldest = minute * MINUTE, (minute - self.retention_minutes + 1) * MINUTE
        with translate(), self.client.pipeline(transaction=True) as pipe:
            for series, values in rows.items():
                key = self.prefix + series
                pipe.zremrangebyscore(key, start, start)
                pipe.zadd(key, {_member(minute, values): start})
                pipe.zremrangebyscore(key, "-inf", f"({oldest}")
            pipe.execute()

    def record(
        self, at: float, signals: Signals, mode: str, queues: dict[str, dict[str, float]]
    ) -> None:
        """One minute's row of the signals and mode, and of every queue that is not idle
        (an idle queue writes nothing: a missing minute reads as zero)."""
        rows = {SIGNALS_SERIES: (*signals.to_dict().values(), 1.0 if mode == QUEUE else 0.0)}
        for queue, stats in queues.items():
            values = tuple(float(stats.get(field, 0)) for field in QUEUE_FIELDS)
            if any(values):
                rows[queue_series(queue)] = values
        self.write(at, rows)

    def rows(self, series: str, since: float, until: float = float("inf")) -> list[Row]:
        """The rows of `series` between `since` and `until`, oldest first."""
        with translate():
            members = self.client.zrangebyscore(self.prefix + series, since, until)
        return [_row(m) for m in members]

    def many(self, names: Iterable[str], since: float) -> dict[str, list[Row]]:
        """Several series at once (one round trip)."""
        names = list(names)
        with translate(), self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zrangebyscore(self.prefix + name, since, "+inf")
            replies = pipe.execute()
        return {name: [_row(m) for m in reply] for name, reply in zip(names, replies, strict=True)}

    def keys(self) -> list[str]:
        """Every history key in Redis."""
        with translate():
            return sorted(
                k.decode() for k in self.client.scan_iter(match=self.prefix + "*", count=1000)
            )

    def memory_bytes(self) -> dict[str, int]:
        """MEMORY USAGE of each history key (bytes, including Redis' own overhead)."""
        keys = self.keys()
        with translate(), self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.memory_usage(key, samples=0)
            sizes = pipe.execute()
        return {key: int(size or 0) for key, size in zip(keys, sizes, strict=True)}


def column(rows: list[Row], fields: tuple[str, ...], field: str) -> list[tuple[float, float]]:
    """(at, value) of one field across `rows`, skipping minutes where it was not observed."""
    index = fields.index(field)
    return [(row.at, row.values[index]) for row in rows if row.values[index] is not None]


def queue_snapshot(client: redis.Redis, prefix: str) -> dict[str, dict[str, float]]:
    """Per queue: depth (waiting now), processed and failed in the current minute."""
    queues = all_queues(prefix)
    counts = queue_counts(client, queues)
    metrics = queue_metrics(client, queues, 1)
    return {
        queue: {
            "depth": float(counts[queue]["waiting"]),
            "processed": float(metrics[queue]["processed"]),
            "failed": float(metrics[queue]["failed"]),
        }
        for queue in queues
    }


class HistoryRecorder:
    """What the evaluating monitor calls each tick: reads the queues and writes one point."""

    def __init__(
        self,
        client: redis.Redis,
        queue_prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.history, self.client = History(client, keys_for_prefix(queue_prefix)), client
        self.queue_prefix, self.clock = queue_prefix, clock

    def __call__(self, signals: Signals, mode: str) -> None:
        """Record this tick; a failure is logged, never raised (history is best effort)."""
        try:
            queues = queue_snapshot(self.client, self.queue_prefix)
            self.history.record(self.clock(), signals, mode, queues)
        except Exception as exc:
            log.warning("history not recorded this tick: %s", exc)
