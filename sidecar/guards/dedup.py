"""Dedup: the first copy of a webhook within SIDECAR_DEDUP_TTL_SECONDS is stored, the others
are answered 200 duplicate with the first copy's job id. One atomic step decides and stores:
sidecar/backend/lua/ingest.lua (claim, rate limit and store in one round trip), for webhooks and
typed jobs alike.

A webhook's identity is its method, its path (identity_path) and its id: the route's
dedup_key, else an idempotency or provider delivery header, else SHA-256 of the query and
body. The same id sent to another path or with another method is another webhook.

The identity only names the claim (claim_key), which holds the first job's id for the
window. Every accepted webhook gets a fresh job id (sidecar.queues.jobs.new_job_id), so a
resend after the window is a new job, never written over a finished or waiting one.
"""

from __future__ import annotations

import hashlib

from sidecar.backend.keys import keys_for_queue
from sidecar.capture import CapturedRequest
from sidecar.guards.keys import extract

DELIVERY_ID_HEADERS = (
    "Idempotency-Key",
    "X-Idempotency-Key",
    "X-Request-Id",
    "X-GitHub-Delivery",
    "X-Shopify-Webhook-Id",
    "X-Gitlab-Event-UUID",
    "Svix-Id",
    "Webhook-Id",
)


def dedup_id(captured: CapturedRequest, dedup_key: str | None) -> str:
    """What identifies this webhook: method, path and sender_id, one per line."""
    return "\n".join([captured.method, identity_path(captured), sender_id(captured, dedup_key)])


def identity_path(captured: CapturedRequest) -> str:
    """The path part of the dedup identity: the path as n8n resolves it, so `/webhook/x/`
    and `/webhook/%78` are the same webhook as `/webhook/x`."""
    return captured.resolved_path()


def sender_id(captured: CapturedRequest, dedup_key: str | None) -> str:
    """The webhook's own id: the configured key, a delivery-id header, or a hash."""
    if dedup_key:
        value = extract(captured, dedup_key)
        if value:
            return f"key:{value}"
    headers = first_values(captured.headers)  # one pass, not one scan per name (hot path)
    for header in DELIVERY_ID_HEADERS:
        value = headers.get(header.lower())
        if value:
            return f"header:{value}"
    if headers.get("stripe-signature"):
        value = extract(captured, "body.id")
        if value:
            return f"stripe:{value}"
    # method and path are in the identity already; ?n=1 and ?n=2 are different webhooks
    digest = hashlib.sha256(b"\n".join([captured.query.encode(), captured.body]))
    return f"sha256:{digest.hexdigest()}"


def first_values(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Each header's first value by lower-case name, as CapturedRequest.header finds it."""
    return {name.lower(): value for name, value in reversed(headers)}


def job_id_for(queue: str, identity: str) -> str:
    """A job id (hex, no ':') derived from the queue and `identity`: for jobs that must
    exist at most once (a typed job's follow-up), never for accepted webhooks."""
    return hashlib.sha256(f"{queue}\n{identity}".encode()).hexdigest()[:32]


def claim_key(queue: str, identity: str) -> str:
    """The Redis key holding the claim of `identity` on `queue` (its value: the job id)."""
    return keys_for_queue(queue).dedup(queue, identity)


def claim_seconds(ttl: float) -> int:
    """The dedup window in whole seconds (at least 1), as Redis expires keys."""
    return max(1, round(ttl))
