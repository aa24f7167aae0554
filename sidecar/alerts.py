"""Alerts (SPEC §6): logged, added to the event stream, counted, and POSTed as JSON.

An alert is `{"kind", "severity", "message", "signals", "mode", "at"}`. `Alerter.emit()`
raises one: the same (kind, subject) at most once per cool-down (in-process, and across
processes through KeySchema.alert(kind, subject) SET NX PX when Redis is there), then
logs it, counts `sidecar_alerts_total{kind}`, XADDs `type=alert` to the event stream, and
hands the POST to SIDECAR_ALERT_WEBHOOK_URL to a background thread that retries with
tenacity (exponential backoff on network errors, 408, 429 and 5xx). emit() does at most two
Redis round trips and never waits for the webhook; a full send queue drops the POST (logged).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import requests
from prometheus_client import Counter
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_exponential,
)

from sidecar.backend.connection import translate
from sidecar.backend.keys import KeySchema, keys_for
from sidecar.errors import BackendUnavailable
from sidecar.events import publish_event
from sidecar.isotime import iso
from sidecar.redact import redact, url_secrets
from sidecar.settings import Settings

log = logging.getLogger("sidecar.alerts")

# The mode controller's alerts (sidecar/mode/controller.py decides them).
THRESHOLD_CROSSED = "threshold_crossed"
THRESHOLD_CLEARED = "threshold_cleared"
MODE_CHANGED = "mode_changed"
QUEUE_UNAVAILABLE = "queue_unavailable"
# Alerts of delivery, queues and sources.

N8N_UNREACHABLE = "n8n_unreachable"
N8N_REACHABLE = "n8n_reachable"  # the circuit's all-clear (worker/gate.py)
BACKLOG_FULL = "backlog_full"  # a queue refuses webhooks (queues/backpressure.py)
REDIS_UNREACHABLE = "redis_unreachable"
DLQ_GROWING = "dlq_growing"
NO_WORKERS = "no_workers"
UNREGISTERED_WEBHOOK = "unregistered_webhook"  # dead letters dropped (worker/ledger.py)
SIGNAL_BLIND = "signal_blind"  # at start-up, per blind signal (sources.py)
SEVERITY = {
    THRESHOLD_CROSSED: "warning",
    THRESHOLD_CLEARED: "info",
    MODE_CHANGED: "warning",
    QUEUE_UNAVAILABLE: "critical",
    N8N_UNREACHABLE: "critical",
    N8N_REACHABLE: "info",
    BACKLOG_FULL: "warning",
    REDIS_UNREACHABLE: "critical",
    DLQ_GROWING: "warning",
    NO_WORKERS: "critical",
    UNREGISTERED_WEBHOOK: "warning",
    SIGNAL_BLIND: "warning",
}
KINDS = tuple(SEVERITY)
LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}

ALERTS = Counter("sidecar_alerts_total", "Alerts raised (after de-duplication)", ["kind"])


@dataclass(frozen=True)
class Alert:
    """One alert of SPEC §6; `at` is ISO-8601 UTC, `signals` the values at that moment."""

    kind: str
    severity: str
    message: str
    signals: dict[str, Any] = field(default_factory=dict)
    mode: str = "single"
    at: str = ""

    @classmethod
    def make(
        cls,
        kind: str,
        message: str,
        mode: str,
        signals: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> Alert:
        """An alert of `kind` with its usual severity, stamped `at` (now when None)."""
        when = iso(time.time() if at is None else at)
        return cls(kind, SEVERITY.get(kind, "warning"), message, signals or {}, mode, when)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of SPEC §6."""
        return asdict(self)


class RetryableDelivery(Exception):
    """The alert webhook failed in a way worth retrying."""


class Alerter:
    """Raises alerts. Parameters: `client` (None without Redis), `webhook_url` (None: no POST),
    `cooldown_seconds` (the same alert at most once per this), `session`, `clock`, and the
    POST policy: `attempts`, `retry_wait` (first backoff, doubling up to `retry_max_wait`),
    `timeout`, `queue_size`; `keys` (the key schema)."""

    def __init__(
        self,
        client: redis.Redis | None,
        webhook_url: str | None,
        cooldown_seconds: float,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        attempts: int = 5,
        retry_wait: float = 1.0,
        retry_max_wait: float = 30.0,
        timeout: float = 10.0,
        queue_size: int = 1000,
        keys: KeySchema,
    ) -> None:
        self.client, self.webhook_url, self.cooldown = client, webhook_url, cooldown_seconds
        self.session, self.clock = session or requests.Session(), clock
        self.attempts, self.retry_wait, self.retry_max_wait = attempts, retry_wait, retry_max_wait
        self.timeout, self.keys = timeout, keys
        self._sent: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, client: redis.Redis | None, **options: Any
    ) -> Alerter:
        """An alerter for SIDECAR_ALERT_WEBHOOK_URL with SIDECAR_COOLDOWN_SECONDS."""
        options.setdefault("keys", keys_for(settings))
        return cls(client, settings.alert_webhook_url, settings.cooldown_seconds, **options)

    def emit(self, alert: Alert, subject: str = "") -> bool:
        """Raise `alert` unless the same (kind, subject) was raised within the cool-down."""
        if not self._first_in_cooldown(alert.kind, subject):
            log.debug("alert %s/%s suppressed (cool-down)", alert.kind, subject)
            return False
        log.log(
            LOG_LEVEL.get(alert.severity, logging.WARNING),
            "alert %s: %s",
            alert.kind,
            alert.message,
        )
        ALERTS.labels(kind=alert.kind).inc()
        self._to_stream(alert)
        if self.webhook_url:
            self._enqueue(alert.to_dict())
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued POST is done (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._outbox.all_tasks_done:
            while self._outbox.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._outbox.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Finish queued POSTs for up to `timeout` seconds, then stop the sender thread."""
        self.drain(timeout)
        self._closing.set()
        if self._thread is not None:
            self._outbox.put(None)
            self._thread.join(timeout)

    def _first_in_cooldown(self, kind: str, subject: str) -> bool:
        """True for the first (kind, subject) of a cool-down, here and (with Redis) everywhere."""
        now = self.clock()
        with self._lock:
            last = self._sent.get((kind, subject))
            if last is not None and now - last < self.cooldown:
                return False
            self._sent[(kind, subject)] = now
        if self.client is None:
            return True
        try:
            with translate():
                key, ttl = self.keys.alert(kind, subject), max(1, int(self.cooldown * 1000))
                return bool(self.client.set(key, iso(now), nx=True, px=ttl))
        except BackendUnavailable:
            return True

    def _to_stream(self, alert: Alert) -> None:
        """XADD the alert to the event stream; logged, not raised, when Redis is down."""
        if self.client is None:
            return
        try:
            publish_event(self.client, self.keys, "alert", alert.to_dict())
        except BackendUnavailable as exc:
            log.warning("alert %s not added to the event stream: %s", alert.kind, exc)

    def _enqueue(self, payload: dict[str, Any]) -> None:
        """Hand a POST to the sender thread (started on first use); drop it when full."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alert-sender", daemon=True)
                self._thread.start()
        try:
            self._outbox.put_nowait(payload)
        except queue.Full:
            log.error("alert queue full: %s not POSTed", payload.get("kind"))

    def _run(self) -> None:
        """Sender thread: POST queued alerts one by one until close()."""
        while True:
            payload = self._outbox.get()
            try:
                if payload is None:
                    return
                self._post(payload)
            except Exception as exc:  # the URL's path and query may be its token: masked
                log.error(
                    "alert %s not delivered to the webhook: %s",
                    payload and payload["kind"],
                    redact(str(exc), *url_secrets(self.webhook_url)),
                )
            finally:
                self._outbox.task_done()

    def _post(self, payload: dict[str, Any]) -> None:
        """POST with retries; RetryableDelivery escapes after the last attempt."""
        retrying = Retrying(
            stop=stop_any(stop_after_attempt(self.attempts), lambda _: self._closing.is_set()),
            wait=wait_exponential(multiplier=self.retry_wait, max=self.retry_max_wait),
            retry=retry_if_exception_type(RetryableDelivery),
            sleep=self._closing.wait,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self._post_once(payload)

    def _post_once(self, payload: dict[str, Any]) -> None:
        """One POST; RetryableDelivery on errors worth retrying, a log line on a refusal."""
        try:
            response = self.session.post(self.webhook_url or "", json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", *url_secrets(self.webhook_url))
            raise RetryableDelivery(detail) from None
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise RetryableDelivery(f"HTTP {response.status_code}")
        if not response.ok:
            log.warning("alert webhook refused %s: HTTP %s", payload["kind"], response.status_code)
