"""What is still queued: the drained-queues rule of the controller, and the DLQ size.

Queues are drained when, for every work queue, nothing waits (`rq:queue:{q}` LLEN), nothing
is in flight (`sidecar:locks:{q}` ZCARD) and no retry is scheduled (`rq:scheduled:{q}`
ZCARD). Going back to single mode before that would leave jobs to the workers while new
webhooks bypass them, so webhooks would reach n8n out of order for a while.
"""

from __future__ import annotations

import redis

from sidecar.backend.connection import translate
from sidecar.backend.queue_names import all_queues, dead_letter_queue
from sidecar.queues.jobs import locks_key, queue_key, registry_key


def backlog(client: redis.Redis, prefix: str) -> dict[str, int]:
    """Per work queue: waiting + in flight + scheduled jobs. BackendUnavailable on failure."""
    names = all_queues(prefix)
    with translate():
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(queue_key(name))
            pipe.zcard(locks_key(name))
            pipe.zcard(registry_key("scheduled", name))
        counts = pipe.execute()
    return {name: sum(counts[3 * i : 3 * i + 3]) for i, name in enumerate(names)}


def queues_drained(client: redis.Redis, prefix: str) -> bool:
    """True when no work queue has anything waiting, in flight or scheduled."""
    return not any(backlog(client, prefix).values())


def dead_letter_size(client: redis.Redis, prefix: str) -> int:
    """How many entries the dead-letter queue holds."""
    with translate():
        return int(client.llen(queue_key(dead_letter_queue(prefix))))
