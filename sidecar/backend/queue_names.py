"""Queue names of SPEC §4: `{prefix}:{feature}:{operation}` and the dead-letter queue."""

from __future__ import annotations

OPERATIONS = (
    "tasks:create",
    "tasks:update",
    "tasks:sync",
    "reminders:schedule",
    "reminders:send",
    "telegram:outbound",
    "telegram:command",
    "openproject:sync",
    "openproject:webhook",
    "webhooks:inbound",
)
DEAD_LETTER = "dead-letter"


def queue_name(prefix: str, operation: str) -> str:
    """The full queue name of `operation` (e.g. 'tasks:create') under `prefix`."""
    return f"{prefix}:{operation}"


def all_queues(prefix: str) -> list[str]:
    """The ten work queues (not the dead-letter queue)."""
    return [queue_name(prefix, op) for op in OPERATIONS]


def inbound_queue(prefix: str) -> str:
    """Where captured webhooks go unless a route says otherwise."""
    return queue_name(prefix, "webhooks:inbound")


def dead_letter_queue(prefix: str) -> str:
    """The dead-letter queue."""
    return queue_name(prefix, DEAD_LETTER)


def resolve(prefix: str, given: str) -> str:
    """Accept a queue as 'tasks:create' or 'flrts:tasks:create'; ValueError if unknown."""
    full = given if given.startswith(f"{prefix}:") else queue_name(prefix, given)
    if full not in all_queues(prefix) and full != dead_letter_queue(prefix):
        raise ValueError(f"unknown queue {given!r}; known: {', '.join(OPERATIONS)}")
    return full
