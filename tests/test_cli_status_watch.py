"""`n8n-sidecar status --watch`: redraws with sparklines read from the recorded history."""

from __future__ import annotations

import time

import redis
from test_cli import run_cli

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.mode.controller import Signals
from sidecar.mode.history import History
from sidecar.status.sparkline import per_minute, sparkline


def test_sparkline_scales_from_smallest_to_largest_with_gaps() -> None:
    assert sparkline([0, 100, 200, 300, 400, 500, 600, 700]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, None, 5]) == "▄ ▄"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([None, None]) == "  "


def test_per_minute_places_points_in_their_minute_slots() -> None:
    now = 1_800_000_000.0 + 30  # half a minute into a minute
    points = [(now - 150, 1.0), (now - 30, 2.0), (now - 3600, 9.0)]

    assert per_minute(points, now, 4) == [None, 1.0, None, 2.0]


def test_watch_redraws_with_the_sparkline_of_the_recorded_history(
    n8n: FakeN8n, redis_url: str, rdb: redis.Redis
) -> None:
    history = History(rdb, DEFAULT_KEYS)
    now = time.time()
    for step, rate in enumerate(range(0, 800, 100)):  # the last eight minutes: 0 … 700 /h
        history.record(now - (7 - step) * 60, Signals(rate, 2.0, 50.0), "single", {})

    done = run_cli(
        "status", "--watch", "--interval", "0", "--iterations", "2",
        N8N_URL=n8n.url, REDIS_URL=redis_url,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("n8n-sidecar status  ") == 2  # two redraws, then it stopped
    block = done.stdout.split("last 60 min")[-1].splitlines()
    line = next(x for x in block if x.startswith("webhooks_per_hour"))
    assert "▁▂▃▄▅▆▇█" in line and line.rstrip().endswith("0..700")
    assert "mode      single" in done.stdout
