"""Dead letters: what could not be delivered, kept as RQ jobs on `{prefix}:dead-letter`.

One concept, split by concern:
* `entries`: a dead letter as stored (payload, summary, keys) and writing one;
* `reading`: listing a page, the newest, showing one (`DeadLetter`);
* `actions`: replay, delete, purge;
* `retention`: the count and age limits, adoption of entries of earlier versions;
* `counts`: dead letters counted instead of kept (unregistered webhooks, drops).

The reading and the actions are named here for the management API, the CLI and the status
page (`deadletters.replay(...)`); the worker imports the part it writes with.
(It was two near-synonyms: queues/dlq.py and queues/deadletters.py.)
"""

from __future__ import annotations

from sidecar.queues.deadletters.actions import delete, job_function, purge, replay, replay_all
from sidecar.queues.deadletters.reading import (
    DeadLetter,
    get_entry,
    list_entries,
    newest_entries,
    opened,
)

__all__ = [
    "DeadLetter",
    "delete",
    "get_entry",
    "job_function",
    "list_entries",
    "newest_entries",
    "opened",
    "purge",
    "replay",
    "replay_all",
]
