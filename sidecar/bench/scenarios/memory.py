"""Memory: Redis bytes per queued job, the payload excluded (seed: ~1 KB), against vanilla
RQ's `Queue.enqueue` of the same payload; and the resident memory of a gateway after ingest
and of one worker while delivering, against an RQ SimpleWorker."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from sidecar.bench.context import NO_LIMIT, QUEUE, Bench
from sidecar.bench.errors import BenchError
from sidecar.bench.jobs import prefill, waiting_jobs
from sidecar.bench.load import send_closed_loop
from sidecar.bench.report import Outcome, Row
from sidecar.bench.scenarios.deliver import both_sides
from sidecar.bench.stats import ratio
from sidecar.bench.usage import gateway_rss
from sidecar.capture import CapturedRequest
from sidecar.queues.jobs import DELIVER_FUNC, JOB_PREFIX, queue_key

TARGET_BYTES = 1024
MEMORY_SAMPLE = 200
RSS_JOBS = 1000


def used_memory(client: redis.Redis) -> int:
    """Redis' INFO memory used_memory, bytes."""
    return int(client.info("memory")["used_memory"])


def sampled_bytes_per_job(client: redis.Redis, count: int) -> float:
    """MEMORY USAGE of a sample of job hashes, plus the queue list's share per job."""
    ids = [raw.decode() for raw in client.lrange(queue_key(QUEUE), 0, MEMORY_SAMPLE - 1)]
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.memory_usage(JOB_PREFIX + job_id, samples=0)
        per_hash = statistics.mean(pipe.execute())
    return per_hash + (client.memory_usage(queue_key(QUEUE), samples=0) or 0) / count


def job_hash_encoding(client: redis.Redis) -> str:
    """Redis' encoding of one queued job hash ('listpack' is compact, 'hashtable' is not)."""
    job_id = client.lindex(queue_key(QUEUE), 0)
    encoding = client.object("encoding", JOB_PREFIX + job_id.decode()) if job_id else None
    return encoding.decode() if isinstance(encoding, bytes) else str(encoding)


def measure_store(bench: Bench, count: int, store: Callable[[int], object]) -> dict:
    """Bytes per job when `store(count)` queues `count` jobs on an empty Redis."""
    bench.reset()
    before = used_memory(bench.client)
    store(count)
    figures = {
        "info_bytes_per_job": (used_memory(bench.client) - before) / count,
        "memory_usage_bytes_per_job": sampled_bytes_per_job(bench.client, count),
        "job_hash_encoding": job_hash_encoding(bench.client),
    }
    bench.reset()
    return figures


def redis_bytes(bench: Bench, count: int) -> dict:
    """Bytes per job, ours and RQ's, for a tiny payload; and the payload's own size."""
    tiny = CapturedRequest("POST", "/webhook/m", "", [], b"", received_at=0.0).to_payload()
    rq_queue = Queue(QUEUE, connection=bench.client, serializer=JSONSerializer)
    ours = measure_store(bench, count, lambda n: prefill(bench, [tiny] * n))
    rq = measure_store(
        bench, count, lambda n: [rq_queue.enqueue(DELIVER_FUNC, tiny) for _ in range(n)]
    )
    return {
        "payload_json_bytes": len(json.dumps(tiny, separators=(",", ":"))),
        "sidecar": ours,
        "rq": rq,
    }


def gateway_after_ingest(bench: Bench, count: int) -> dict[str, float]:
    """RSS of a queue-mode gateway (master and worker) after `count` webhooks."""
    opts = bench.options
    gateway = bench.start_gateway(SIDECAR_MODE="queue", SIDECAR_USER_RATE_LIMIT=NO_LIMIT)
    try:
        with bench.progress.counting("into the gateway", count, "webhooks") as counter:
            send_closed_loop(gateway.port, count, opts.senders, opts.timeout, counter, 202)
        rss = gateway_rss(gateway.proc.pid)
    finally:
        bench.procs.stop(gateway.proc)
    stored = waiting_jobs(bench.client)
    if stored != count:
        raise BenchError(f"the gateway answered 202 {count} times but stored {stored}")
    return rss


def resident(bench: Bench, count: int) -> dict:
    """Gateway RSS after `count` webhooks; peak worker RSS delivering them, ours and RQ's."""
    gateway = gateway_after_ingest(bench, count)
    bench.reset()
    ours, rq = both_sides(bench, count, 1)
    return {
        "gateway_worker_rss_mb": gateway["worker_rss_mb"],
        "gateway_master_rss_mb": gateway["master_rss_mb"],
        "sidecar_worker_rss_mb": ours["worker_rss_mb"],
        "rq_worker_rss_mb": rq["worker_rss_mb"],
    }


def rows(stored: dict, rss: dict) -> list[Row]:
    """The table rows."""
    payload = stored["payload_json_bytes"]
    ours = stored["sidecar"]["memory_usage_bytes_per_job"] - payload
    rq = stored["rq"]["memory_usage_bytes_per_job"] - payload
    return [
        Row(
            "Redis bytes per queued job, payload excluded",
            f"{ours:,.0f} B ({stored['sidecar']['job_hash_encoding']})",
            f"{rq:,.0f} B RQ Queue.enqueue",
            ratio(ours, rq),
            f"<= {TARGET_BYTES:,} B (seed ~1 KB)",
            ours <= TARGET_BYTES,
        ),
        Row(
            "gateway RSS (gunicorn worker, master)",
            f"{rss['gateway_worker_rss_mb']:.0f} MB, {rss['gateway_master_rss_mb']:.0f} MB",
        ),
        Row(
            "worker RSS, peak while delivering",
            f"{rss['sidecar_worker_rss_mb']:.0f} MB",
            f"{rss['rq_worker_rss_mb']:.0f} MB rq SimpleWorker",
            ratio(rss["sidecar_worker_rss_mb"], rss["rq_worker_rss_mb"]),
        ),
    ]


def run(bench: Bench) -> Outcome:
    """Redis bytes per job, then resident memory."""
    count = bench.options.jobs
    bench.progress.say(f"memory: {count} jobs stored the sidecar's way, then RQ's")
    stored = redis_bytes(bench, count)
    rss = resident(bench, min(count, RSS_JOBS))
    return Outcome("memory", rows(stored, rss), {"redis": stored, "rss": rss})
