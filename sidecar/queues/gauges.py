"""Prometheus gauges read from Redis at scrape time: depth, states, delivery stats, oldest
waiting job, live workers; and sidecar_dlq_dropped_total, a counter the workers keep in
Redis. Built per scrape on a private registry, so nothing global."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rq.utils import utcparse

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema
from sidecar.errors import BackendUnavailable
from sidecar.queues.dlq import UNREGISTERED, dropped_counts
from sidecar.queues.jobs import JOB_PREFIX, queue_key
from sidecar.queues.overview import queue_counts
from sidecar.queues.stats import queue_metrics


class QueueCollector(Collector):
    """Collects the queue gauges for `queues` from `client` (the sidecar's keys: `keys`)."""

    def __init__(self, client: redis.Redis, keys: KeySchema, queues: list[str]) -> None:
        self.client, self.keys, self.queues = client, keys, queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One family per measure, labelled by queue."""
        jobs = GaugeMetricFamily(
            "sidecar_queue_jobs", "Jobs per queue and state", labels=["queue", "state"]
        )
        for queue, row in queue_counts(self.client, self.queues).items():
            for state, value in row.items():
                jobs.add_metric([queue, state], float(value))
        yield jobs
        yield from self._delivery_stats()
        oldest = GaugeMetricFamily(
            "sidecar_queue_oldest_waiting_seconds",
            "Age of the oldest waiting job",
            labels=["queue"],
        )
        for queue in self.queues:
            oldest.add_metric([queue], self._oldest_age(queue))
        yield oldest
        workers = GaugeMetricFamily(
            "sidecar_workers_live", "Worker processes seen in the last minute"
        )
        workers.add_metric(
            [], float(self.client.zcount(self.keys.workers, time.time() - 60, "+inf"))
        )
        yield workers
        dropped = CounterMetricFamily(
            "sidecar_dlq_dropped", "Dead letters not kept, per reason", labels=["reason"]
        )
        for reason, count in {UNREGISTERED: 0, **dropped_counts(self.client, self.keys)}.items():
            dropped.add_metric([reason], float(count))
        yield dropped
        yield from self._delivery()

    def _delivery(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The n8n circuit, the pace across workers, refusals of full queues."""
        from sidecar.worker.report import delivery_status

        view = delivery_status(self.client, self.keys)
        yield GaugeMetricFamily(
            "sidecar_n8n_circuit_open",
            "1 while workers find n8n unreachable (deliveries held)",
            value=float(view["circuit"] == "open"),
        )
        yield GaugeMetricFamily(
            "sidecar_n8n_outage_seconds", "How long n8n has been unreachable", view["outageSeconds"]
        )
        yield GaugeMetricFamily(
            "sidecar_delivery_pace", "Deliveries allowed in flight, all workers", view["pace"]
        )
        full = CounterMetricFamily(
            "sidecar_backlog_full",
            "Webhooks refused (503) as their queue was full",
            labels=["queue"],
        )
        for queue in self.queues:
            full.add_metric([queue], float(view["backlogFull"].get(queue, 0)))
        yield full

    def _delivery_stats(self) -> Iterator[GaugeMetricFamily]:
        stats = queue_metrics(self.client, self.queues)
        names = {
            "processed": "sidecar_queue_processed_15m",
            "failed": "sidecar_queue_failed_15m",
            "p95ProcessingTime": "sidecar_queue_p95_processing_ms",
        }
        for field, name in names.items():
            family = GaugeMetricFamily(name, f"{field} over the last 15 minutes", labels=["queue"])
            for queue, row in stats.items():
                family.add_metric([queue], float(row[field]))
            yield family

    def _oldest_age(self, queue: str) -> float:
        first = self.client.lindex(queue_key(queue), 0)
        enqueued = self.client.hget(JOB_PREFIX + first.decode(), "enqueued_at") if first else None
        if not enqueued:
            return 0.0
        return max(0.0, time.time() - utcparse(enqueued.decode()).timestamp())


def check_in(client: redis.Redis, keys: KeySchema, name: str) -> None:
    """A worker says it is alive (every heartbeat)."""
    client.zadd(keys.workers, {name: time.time()})
    client.zremrangebyscore(keys.workers, "-inf", time.time() - 3600)  # forget long-gone ones


def check_out(client: redis.Redis, keys: KeySchema, name: str) -> None:
    """A worker that stops says so."""
    client.zrem(keys.workers, name)


def live_worker_count(client: redis.Redis, keys: KeySchema, within_seconds: float = 60) -> int:
    """Worker processes that checked in during the last `within_seconds`."""
    with translate():
        return int(client.zcount(keys.workers, time.time() - within_seconds, "+inf"))


def render_queue_gauges(client: redis.Redis, keys: KeySchema, queues: list[str]) -> bytes:
    """The gauges in Prometheus text format (empty when Redis cannot be read)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(client, keys, queues))
    try:
        return generate_latest(registry)
    except (redis.RedisError, BackendUnavailable):
        return b""  # the gateway's own metrics still answer while Redis is down
