"""Prometheus gauges of the queues, read from Redis at scrape time: depth, states, delivery
stats, oldest waiting job; and sidecar_dlq_dropped_total, a counter the workers keep in
Redis. Collected per scrape on a private registry (http/metrics.py), so nothing global."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rq.utils import utcparse

from sidecar.backend.keys import KeySchema
from sidecar.queues.deadletters.counts import dropped_counts
from sidecar.queues.deadletters.entries import UNREGISTERED
from sidecar.queues.jobs import JOB_PREFIX, queue_key
from sidecar.queues.overview import queue_counts
from sidecar.queues.stats import queue_metrics


class QueueCollector(Collector):
    """Collects the queue gauges for `queues` from `client` (the sidecar's keys: `keys`)."""

    def __init__(self, client: redis.Redis, keys: KeySchema, queues: list[str]) -> None:
        self.client, self.keys, self.queues = client, keys, queues

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
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
        dropped = CounterMetricFamily(
            "sidecar_dlq_dropped", "Dead letters not kept, per reason", labels=["reason"]
        )
        for reason, count in {UNREGISTERED: 0, **dropped_counts(self.client, self.keys)}.items():
            dropped.add_metric([reason], float(count))
        yield dropped

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
