"""RecordArgs (sidecar/worker/outcomes.py): the argument layout lua/record.lua reads, nine
values per job with '' where a kind has no use for a slot, on a frozen clock."""

from __future__ import annotations

import json
import types
import zlib

import pytest

from sidecar.queues import stats
from sidecar.queues.jobs import TakenJob
from sidecar.settings import Settings, load_settings
from sidecar.worker import outcomes
from sidecar.worker.outcomes import ERROR_IN_EVENT_CHARS, RecordArgs
from sidecar.worker.policy import Outcome

NOW = 6_000_030.0  # minute 100_000 and a half
QUEUE = "flrts:webhooks:inbound"


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outcomes, "time", types.SimpleNamespace(time=lambda: NOW))


@pytest.fixture
def settings() -> Settings:
    return load_settings(_env_file=None, N8N_URL="http://127.0.0.1:9")


def job(job_id: str, queue: str = QUEUE) -> TakenJob:
    return TakenJob(id=job_id, queue=queue, payload={}, attempt=2, delivered=False)


def job_rows(args: RecordArgs) -> list[list]:
    values = args.argv()[-9 * (len(args.jobs) // 9) :]
    return [values[i : i + 9] for i in range(0, len(values), 9)]


def test_each_kind_fills_its_slots_and_leaves_the_others_empty(settings: Settings) -> None:
    args = RecordArgs(settings, "exec-1", "ended")
    args.add(job("a"), Outcome("done", status=200, duration=0.5), "done")
    args.add(job("b"), Outcome("retry", status=503, error="HTTP 503", duration=0.25), "retry", 7)
    args.add(job("c"), Outcome("dead", status=404, error="HTTP 404", duration=0.1), "dead")
    args.add(job("d"), Outcome("retry", error="refused"), "retry")  # no delay given: now
    done_at = NOW + settings.keep_completed_seconds
    failed_at = NOW + settings.keep_failed_seconds

    done, retry, dead, retry_now = job_rows(args)

    assert done[:8] == [1, "done", "a", 200, "", "", done_at, 500.0]
    assert json.loads(done[8]) == {
        "jobId": "a",
        "queue": QUEUE,
        "attempts": 2,
        "status": 200,
        "ms": 500.0,
    }
    assert retry == [1, "retry", "b", "", "HTTP 503", "", NOW + 7, 250.0, ""]
    assert dead[:8] == [
        1,
        "dead",
        "c",
        "",
        "HTTP 404",
        zlib.compress(b"HTTP 404"),
        failed_at,
        100.0,
    ]
    assert json.loads(dead[8])["error"] == "HTTP 404"
    assert retry_now[6] == NOW


def test_the_head_and_each_queue_keys_come_before_the_jobs(settings: Settings) -> None:
    args = RecordArgs(settings, "exec-1", "ended")
    args.add(job("a"), Outcome("done", status=200), "done")
    args.add(job("b", "flrts:tasks:create"), Outcome("done", status=200), "done")

    argv = args.argv()

    assert argv[:2] == ["ended", "exec-1"]
    assert argv[10] == 2  # queues in this batch
    per_queue = argv[11 : 11 + 2 * 8]  # record.lua's KEYS_PER_QUEUE
    assert per_queue[5:7] == list(stats.keys(QUEUE, 100_000))  # this minute's counters
    assert per_queue[7] == f"rq:queue:{QUEUE}"  # a held job goes back to its queue's head
    assert per_queue[13:15] == list(stats.keys("flrts:tasks:create", 100_000))
    assert per_queue[15] == "rq:queue:flrts:tasks:create"
    assert [row[0] for row in job_rows(args)] == [1, 2]


def test_a_long_error_is_cut_in_the_event_only(settings: Settings) -> None:
    args = RecordArgs(settings, "exec-1", "ended")
    error = "x" * (ERROR_IN_EVENT_CHARS + 50)
    args.add(job("a"), Outcome("dead", status=500, error=error), "dead")

    (dead,) = job_rows(args)

    assert dead[4] == error
    assert json.loads(dead[8])["error"] == error[:ERROR_IN_EVENT_CHARS]
