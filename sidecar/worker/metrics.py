"""Prometheus gauges of the workers, read from Redis at scrape time: live workers, the n8n
circuit, the pace across workers, refusals of full queues. Collected per scrape on a
private registry (http/metrics.py), so nothing global."""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar.backend.keys import KeySchema
from sidecar.worker.registry import live_worker_count
from sidecar.worker.report import delivery_status


class WorkerCollector(Collector):
    """Collects the worker and delivery gauges (refusals labelled by `queues`) from `client`
    (the sidecar's keys: `keys`)."""

    def __init__(self, client: redis.Redis, keys: KeySchema, queues: list[str]) -> None:
        self.client, self.keys, self.queues = client, keys, queues

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Live workers, then the delivery view."""
        workers = GaugeMetricFamily(
            "sidecar_workers_live", "Worker processes seen in the last minute"
        )
        workers.add_metric([], float(live_worker_count(self.client, self.keys)))
        yield workers
        yield from self._delivery()

    def _delivery(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The n8n circuit, the pace across workers, refusals of full queues."""
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
