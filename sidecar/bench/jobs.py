"""Jobs as the gateway stores them, for scenarios that fill a queue without HTTP."""

from __future__ import annotations

import time

import redis

from sidecar.bench.context import QUEUE, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.load import WEBHOOK_PATH, webhook_body
from sidecar.capture import CapturedRequest
from sidecar.queues.jobs import build_job, persist, queue_key

PREFILL_BATCH = 500
FORWARDED_HEADERS = [
    ("Content-Type", "application/json"),
    ("X-User-Id", "42"),
    ("X-Forwarded-For", "127.0.0.1"),
    ("X-Forwarded-Proto", "http"),
    ("X-Forwarded-Host", "127.0.0.1"),
]


def captured_webhook(seq: int) -> CapturedRequest:
    """Webhook `seq` as the gateway captures it (the headers it would forward included)."""
    return CapturedRequest(
        "POST", WEBHOOK_PATH, "", FORWARDED_HEADERS, webhook_body(seq, time.time())
    )


def prefill(bench: Bench, payloads: list[dict]) -> None:
    """Store one delivery job per payload on QUEUE as the gateway does, pipelined in batches."""
    client, settings = bench.client, bench.settings
    for start in range(0, len(payloads), PREFILL_BATCH):
        with client.pipeline(transaction=False) as pipe:
            for payload in payloads[start : start + PREFILL_BATCH]:
                job = build_job(client, settings, QUEUE, payload, description="POST /webhook/bench")
                persist(pipe, QUEUE, job)
            pipe.execute()
    waiting = waiting_jobs(client)
    if waiting != len(payloads):
        raise BenchError(f"pre-fill stored {waiting} jobs, not {len(payloads)}")


def waiting_jobs(client: redis.Redis) -> int:
    """How many jobs wait on QUEUE."""
    return int(client.llen(queue_key(QUEUE)))
