"""Retry policy as values: which answers are retried, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429})
MAX_RETRY_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to.

    `kind` is "done" (2xx), "retry" (408, 429, 5xx, no answer after the request went out),
    "hold" (n8n never got it: no attempt spent, the job waits for the circuit, gate.py) or
    "dead" (any other answer: retrying cannot help). `retry_after` is n8n's Retry-After in
    seconds, if any. `signal` says why there was no answer: "not_reached", "no_answer"
    (reset or closed after the request went out) or "timeout"; "not_ready" for the HTML 404
    of an n8n still starting (held too); "" when n8n answered.
    """

    kind: str
    status: int | None = None
    error: str = ""
    retry_after: float | None = None
    duration: float = 0.0
    signal: str = ""


def classify(status: int) -> str:
    """done, retry or dead for an HTTP status from n8n."""
    if 200 <= status < 300:
        return "done"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    return "dead"


def compute_backoff(attempt: int, base: float, jitter: float = 0.2) -> float:
    """Seconds before retry after failed attempt number `attempt` (1-based): base·2^(n-1)±jitter."""
    delay = base * (2 ** (attempt - 1))
    return max(0.0, delay * random.uniform(1 - jitter, 1 + jitter))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date), capped at a day; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not '²' (latin-1 0xB2), which isdigit() accepts
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: absurd years
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def retry_delay(outcome: Outcome, attempt: int, base: float) -> float:
    """How long to wait before the next attempt: the backoff, or n8n's Retry-After if longer."""
    return max(compute_backoff(attempt, base), outcome.retry_after or 0.0)
