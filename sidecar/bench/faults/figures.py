"""What one fault did to the webhooks: accepted (202 queued, or 200 passed through to n8n),
delivered, lost (accepted, never delivered), duplicated, refused (503/429: the sender was
told to retry), no answer (connection reset or refused), and the recovery time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sidecar.bench.context import Bench
from sidecar.bench.fault_load import Outcome

ACCEPTED = (200, 202)
REFUSED = (429, 503)
POLL_SECONDS = 0.2


@dataclass
class Figures:
    """One fault's counts. `notes` explain the figures (what happened, and why)."""

    fault: str
    requirement: str
    sent: int = 0
    accepted: int = 0
    queued: int = 0
    passed_through: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    refused: int = 0
    refused_with_retry_after: int = 0
    no_answer: int = 0
    no_answer_but_delivered: int = 0
    recovery_s: float | None = None
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def accepted_seqs(outcomes: list[Outcome]) -> set[int]:
    """Webhooks the sender was told were taken."""
    return {o.seq for o in outcomes if o.status in ACCEPTED}


def count(figures: Figures, outcomes: list[Outcome], seen: set[int], duplicates: int) -> Figures:
    """Fill the counts of `figures` from the sender's outcomes and the upstream's score."""
    accepted = accepted_seqs(outcomes)
    unanswered = {o.seq for o in outcomes if o.status == 0}
    figures.sent = len(outcomes)
    figures.accepted = len(accepted)
    figures.queued = sum(1 for o in outcomes if o.status == 202)
    figures.passed_through = sum(1 for o in outcomes if o.status == 200)
    figures.delivered = len(accepted & seen)
    figures.lost = len(accepted - seen)
    figures.duplicated = duplicates
    figures.refused = sum(1 for o in outcomes if o.status in REFUSED)
    figures.refused_with_retry_after = sum(
        1 for o in outcomes if o.status in REFUSED and o.retry_after
    )
    figures.no_answer = len(unanswered)
    figures.no_answer_but_delivered = len(unanswered & seen)
    other = figures.sent - figures.accepted - figures.refused - figures.no_answer
    if other:
        statuses = sorted({o.status for o in outcomes if o.status not in (0, *ACCEPTED, *REFUSED)})
        figures.notes.append(f"{other} answered with another status: {statuses}")
    return figures


def delivered(bench: Bench, outcomes: list, timeout: float) -> tuple[set[int], float, int]:
    """Wait for every accepted webhook of `outcomes` (wait_delivered); (the seqs n8n saw,
    when the wait ended, deliveries n8n saw more than once)."""
    seen, done = wait_delivered(bench, accepted_seqs(outcomes), timeout)
    return seen, done, int(bench.upstream.stats()["duplicates"])


def wait_delivered(bench: Bench, wanted: set[int], timeout: float) -> tuple[set[int], float]:
    """Poll the upstream until it saw every seq in `wanted` or `timeout` passed; (what it
    saw, unix time when the last wanted one was seen or the wait ended)."""
    deadline = time.monotonic() + timeout
    with bench.progress.counting("delivery", len(wanted), "delivered") as counter:
        while True:
            seen = bench.upstream.seen()
            counter.set(len(wanted & seen))
            if wanted <= seen or time.monotonic() > deadline:
                return seen, time.time()
            time.sleep(POLL_SECONDS)
