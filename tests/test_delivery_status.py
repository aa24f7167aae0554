"""`status` and the metrics show the n8n circuit, the pace and refusals of full queues."""

from __future__ import annotations

import time

import redis

from sidecar.cli.mode import collect_status, render_status
from sidecar.http.metrics import render_redis_gauges
from sidecar.queues.backpressure import FULL_KEY
from sidecar.settings import load_settings
from sidecar.worker.circuit import CIRCUIT_KEY
from sidecar.worker.pace import PACE_KEY
from sidecar.worker.registry import WORKERS_KEY

INBOUND = "flrts:webhooks:inbound"


def seed(rdb: redis.Redis) -> None:
    now = time.time()
    rdb.hset(CIRCUIT_KEY, mapping={"openedAt": repr(now - 42), "reason": "refused"})
    rdb.zadd(WORKERS_KEY, {"w1": now, "w2": now, "gone": now - 3600})
    rdb.hset(PACE_KEY, mapping={"w1": 3, "w2": 4, "gone": 50})
    rdb.hset(FULL_KEY, f"rq:queue:{INBOUND}", 7)


def test_status_has_a_delivery_line(redis_url: str, rdb: redis.Redis) -> None:
    seed(rdb)
    report = collect_status(load_settings(REDIS_URL=redis_url))
    delivery = report["delivery"]
    assert delivery["circuit"] == "open" and delivery["outageSeconds"] >= 42
    assert delivery["pace"] == 7  # live workers only
    assert delivery["backlogFull"] == {INBOUND: 7}
    line = render_status(report).splitlines()[-1]
    assert line.startswith("delivery  n8n UNREACHABLE for 4")
    assert "pace 7 in flight; 7 refused (queue full)" in line


def test_metrics_show_the_circuit_the_pace_and_refusals(rdb: redis.Redis) -> None:
    seed(rdb)
    text = render_redis_gauges(rdb, [INBOUND]).decode()
    assert "sidecar_n8n_circuit_open 1.0" in text
    assert "sidecar_delivery_pace 7.0" in text
    assert f'sidecar_backlog_full_total{{queue="{INBOUND}"}} 7.0' in text
    rdb.delete(CIRCUIT_KEY)
    assert "sidecar_n8n_circuit_open 0.0" in render_redis_gauges(rdb, [INBOUND]).decode()
