"""Delivering one captured webhook to n8n, and the RQ job function for plain RQ workers."""

from __future__ import annotations

import time
from functools import cache

from urllib3.exceptions import HTTPError

from sidecar.capture import CapturedRequest
from sidecar.errors import UpstreamError, UpstreamNotReached, UpstreamTimeout
from sidecar.upstream import Upstream, UpstreamResponse
from sidecar.worker.policy import Outcome, classify, parse_retry_after

ERROR_BODY_CHARS = 300
ANSWER_PREFIX = "n8n answered HTTP "


def delivery_headers(job_id: str, attempt: int, captured: CapturedRequest) -> dict[str, str]:
    """Headers added to a replayed webhook (SPEC §5 Delivery)."""
    return {
        "X-Sidecar-Job-Id": job_id,
        "X-Sidecar-Attempt": str(attempt),
        "Idempotency-Key": captured.header("Idempotency-Key") or job_id,
    }


def send_once(
    upstream: Upstream, job_id: str, captured: CapturedRequest, attempt: int
) -> tuple[Outcome, bytes]:
    """Send `captured` to n8n once, with the delivery headers: what came of it, and n8n's body."""
    started = time.perf_counter()
    try:
        answer = upstream.send(captured, delivery_headers(job_id, attempt, captured))
    except UpstreamError as exc:
        return _no_answer(exc, time.perf_counter() - started), b""
    body = _read_body(answer)
    kind = classify(answer.status)
    error = "" if kind == "done" else _describe_answer(answer.status, body)
    if answer.status == 404 and _is_page(body):
        return _not_serving_webhooks(answer.status, error, time.perf_counter() - started), body
    outcome = Outcome(
        kind,
        status=answer.status,
        error=error,
        retry_after=parse_retry_after(answer.header("Retry-After")),
        duration=time.perf_counter() - started,
    )
    return outcome, body


def _no_answer(exc: UpstreamError, duration: float) -> Outcome:
    """n8n gave no answer: held when it never got the request (no attempt spent), else a
    retry (it may have run the workflow: that attempt counts)."""
    if isinstance(exc, UpstreamNotReached):
        return Outcome("hold", error=str(exc), duration=duration, signal="not_reached")
    signal = "timeout" if isinstance(exc, UpstreamTimeout) else "no_answer"
    return Outcome("retry", error=str(exc), duration=duration, signal=signal)


def _is_page(body: bytes) -> bool:
    """An HTML page: what a starting n8n serves (its editor's page) for webhook paths it has
    not registered yet; its "not registered" answer, once running, is JSON."""
    head = body[:64].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _not_serving_webhooks(status: int, error: str, duration: float) -> Outcome:
    """n8n is up but not serving webhooks yet (no workflow ran): held like an unreachable
    n8n, no attempt spent; the circuit opens again until it does."""
    return Outcome("hold", status=status, error=error, duration=duration, signal="not_ready")


def attempt_delivery(upstream: Upstream, job_id: str, payload: dict, attempt: int) -> Outcome:
    """Replay the captured request stored in `payload` to n8n once and say what came of it."""
    return send_once(upstream, job_id, CapturedRequest.from_payload(payload), attempt)[0]


def _read_body(answer: UpstreamResponse) -> bytes:
    """n8n's answer body, or what arrived of it: once the status line is in, the status
    decides what came of the delivery; a body cut off (reset, timeout) must not turn a 2xx
    into a retry, which would run the workflow again."""
    chunks: list[bytes] = []
    try:
        for chunk in answer.iter_body():
            chunks.append(chunk)
    except (HTTPError, OSError):
        pass
    return b"".join(chunks)


def _describe_answer(status: int, body: bytes) -> str:
    """A short error text for a non-2xx answer from n8n (ANSWER_PREFIX, status, body)."""
    text = body[:ERROR_BODY_CHARS].decode("utf-8", errors="replace")
    return f"{ANSWER_PREFIX}{status}: {text}"


def without_answer_body(error: str) -> str:
    """`error` without the part of n8n's answer body in it: what is kept in clear (job hash,
    events) when payloads are sealed; the dead letter keeps the whole text, sealed."""
    if error.startswith(ANSWER_PREFIX):
        return error.partition(": ")[0]
    return error


class DeliveryFailed(Exception):
    """Raised by `deliver` so that a plain RQ worker records the failure."""


@cache
def _default_upstream() -> Upstream:
    from sidecar.settings import load_settings

    settings = load_settings()
    return Upstream(settings.n8n_url, settings.upstream_timeout_seconds, pool_size=4)


def deliver(payload: dict) -> dict:
    """RQ job function: deliver one captured webhook (used when a plain `rq worker` runs the
    jobs; `n8n-sidecar worker` delivers the same jobs itself, in batches)."""
    from rq import get_current_job

    job = get_current_job()
    job_id = job.id if job else "unknown"
    outcome = attempt_delivery(_default_upstream(), job_id, payload, attempt=1)
    if outcome.kind != "done":
        raise DeliveryFailed(outcome.error)
    return {"status": outcome.status}
