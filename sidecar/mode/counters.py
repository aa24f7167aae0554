"""This process's signal counters: webhooks received and n8n answer times.

Hot path (called per request / per delivery, no I/O, a short in-process lock):

    counters.record_webhook()          a webhook arrived at this gateway
    counters.record_latency(seconds)   n8n answered (passthrough or worker delivery)

Built once where the gateway app (`from_settings`) or the worker is built, and handed to
what records and to what flushes: `flush(client, keys)` moves the counts to Redis, called every
SIDECAR_MONITOR_INTERVAL_SECONDS by the monitor (gateways) or a `SignalFlusher` (workers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from sidecar.backend.keys import KeySchema
from sidecar.mode.latency import LatencyReservoir
from sidecar.mode.rate import RateCounter
from sidecar.settings import Settings

log = logging.getLogger("sidecar.mode.signals")


def latency_window_seconds(settings: Settings) -> float:
    """How far back the p95 looks: the sustain period ("consistently"), at least 4 samples."""
    return max(settings.sustain_seconds, 4 * settings.monitor_interval_seconds)


@dataclass
class SignalCounters:
    """A webhook rate counter and an answer-time reservoir (default windows unless given)."""

    rate: RateCounter = field(default_factory=RateCounter)
    latency: LatencyReservoir = field(default_factory=LatencyReservoir)

    @classmethod
    def from_settings(cls, settings: Settings) -> SignalCounters:
        """A gateway's counters: SIDECAR_RATE_WINDOW_SECONDS, the latency window above."""
        return cls(
            RateCounter(window_seconds=settings.rate_window_seconds),
            LatencyReservoir(window_seconds=latency_window_seconds(settings)),
        )

    def record_webhook(self) -> None:
        """Count one webhook received by this process (hot path)."""
        self.rate.record()

    def record_latency(self, seconds: float) -> None:
        """Keep one n8n answer time seen by this process (hot path)."""
        self.latency.record(seconds)

    def flush(self, client: redis.Redis | None, keys: KeySchema) -> bool:
        """Flush the counts to Redis (`keys`); False (logged) when Redis refused them."""
        return flush_local(client, keys, self.rate, self.latency)


def flush_local(
    client: redis.Redis | None, keys: KeySchema, rate: RateCounter, latency: LatencyReservoir
) -> bool:
    """Flush `rate` and `latency` to Redis (`keys`); False (logged) when Redis refused them."""
    try:
        rate.flush(client, keys)
        latency.flush(client, keys)
    except Exception as exc:
        log.warning("could not flush signal counters: %s", exc)
        return False
    return True
