"""When the worker takes jobs: at once while delivery slots are plentiful or the queues ran
dry at the last take (an idle or lightly loaded worker starts a job immediately); while it
works off a backlog, in batches, so that each round trip to Redis (dequeue.lua, then
record.lua for the outcomes) carries more jobs.
"""

from __future__ import annotations

import math

REFILL_SHARE = 0.5  # take jobs at once when this share of the delivery slots is free …
BATCH_WAIT_SECONDS = 0.01  # … else, in a backlog, at most this long after the last take


def refill_mark(concurrency: int) -> int:
    """How many free slots make a batch worth taking at once."""
    return max(1, math.ceil(concurrency * REFILL_SHARE))


def fill_at(free: int, mark: int, backlog: bool, last_fill: float) -> float:
    """When (monotonic seconds) to take jobs for `free` free slots: at once (0.0) with at
    least `mark` free or no `backlog` (the last take left a slot empty); else
    BATCH_WAIT_SECONDS after `last_fill`; never (inf) without a free slot."""
    if free <= 0:
        return math.inf
    if free >= mark or not backlog:
        return 0.0
    return last_fill + BATCH_WAIT_SECONDS
