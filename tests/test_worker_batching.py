"""When the worker takes jobs (sidecar/worker/batching.py): at once unless it is working off a
backlog with few slots free, and then within BATCH_WAIT_SECONDS of its last take."""

from __future__ import annotations

import math

from sidecar.worker.batching import BATCH_WAIT_SECONDS, fill_at, refill_mark


def test_half_the_slots_make_a_batch() -> None:
    assert [refill_mark(n) for n in (1, 2, 3, 10, 1000)] == [1, 1, 2, 5, 500]


def test_an_idle_or_lightly_loaded_worker_takes_jobs_at_once() -> None:
    assert fill_at(free=10, mark=5, backlog=True, last_fill=100.0) == 0.0
    assert fill_at(free=5, mark=5, backlog=True, last_fill=100.0) == 0.0
    assert fill_at(free=1, mark=5, backlog=False, last_fill=100.0) == 0.0  # the queue ran dry


def test_in_a_backlog_a_few_free_slots_wait_for_the_next_batch() -> None:
    assert fill_at(free=2, mark=5, backlog=True, last_fill=100.0) == 100.0 + BATCH_WAIT_SECONDS


def test_without_a_free_slot_nothing_is_taken() -> None:
    assert fill_at(free=0, mark=5, backlog=False, last_fill=100.0) == math.inf
