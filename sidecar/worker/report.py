"""What `status` and the metrics show of delivery: the n8n circuit, the pace across live
workers, and the webhooks refused because a queue was full."""

from __future__ import annotations

import time

import redis

from sidecar.backend.keys import KeySchema
from sidecar.queues.backpressure import refused_counts
from sidecar.worker.circuit import Circuit
from sidecar.worker.pace import total_pace
from sidecar.worker.registry import live_worker_names

LIVE_SECONDS = 60


def delivery_status(client: redis.Redis, keys: KeySchema) -> dict:
    """{"circuit": open|closed, "outageSeconds", "reason", "pace", "backlogFull": {queue: n}}."""
    now = time.time()
    state = Circuit(client, keys).state()
    live = live_worker_names(client, keys, LIVE_SECONDS, now)
    return {
        "circuit": "open" if state.open else "closed",
        "outageSeconds": round(state.outage_seconds(now), 1),
        "reason": state.reason,
        "pace": total_pace(client, keys, live),
        "backlogFull": refused_counts(client, keys),
    }


def render_delivery(view: dict) -> str:
    """One line for `status`."""
    if view["circuit"] == "open":
        circuit = f"n8n UNREACHABLE for {view['outageSeconds']:.0f} s, deliveries held"
    else:
        circuit = "n8n circuit closed"
    refused = sum(view["backlogFull"].values())
    return f"delivery  {circuit}; pace {view['pace']} in flight; {refused} refused (queue full)"
