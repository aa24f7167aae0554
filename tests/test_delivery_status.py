"""`status` and the metrics show the n8n circuit, the pace and refusals of full queues."""

from __future__ import annotations

import time

import redis

from sidecar.backend.keys import DEFAULT_KEYS
from sidecar.cli.mode import collect_status, render_status
from sidecar.http.metrics import render_redis_gauges
from sidecar.settings import load_settings

INBOUND = "flrts:webhooks:inbound"


def seed(rdb: redis.Redis) -> None:
    now = time.time()
    rdb.hset(DEFAULT_KEYS.n8n_circuit, mapping={"openedAt": repr(now - 42), "reason": "refused"})
    rdb.zadd(DEFAULT_KEYS.workers, {"w1": now, "w2": now, "gone": now - 3600})
    rdb.hset(DEFAULT_KEYS.pace, mapping={"w1": 3, "w2": 4, "gone": 50})
    rdb.hset(DEFAULT_KEYS.backlog_full, f"rq:queue:{INBOUND}", 7)


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
    text = render_redis_gauges(rdb, DEFAULT_KEYS, [INBOUND]).decode()
    assert "sidecar_n8n_circuit_open 1.0" in text
    assert "sidecar_delivery_pace 7.0" in text
    assert f'sidecar_backlog_full_total{{queue="{INBOUND}"}} 7.0' in text
    rdb.delete(DEFAULT_KEYS.n8n_circuit)
    assert (
        "sidecar_n8n_circuit_open 0.0" in render_redis_gauges(rdb, DEFAULT_KEYS, [INBOUND]).decode()
    )
