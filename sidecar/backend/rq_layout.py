"""RQ's key layout, read from RQ itself (rq>=3,<4), never retyped.

The Lua scripts and the intake write jobs as RQ stores them; every RQ key they touch is
built here from RQ's own class attributes, so an RQ that moved its keys would move ours too
(and tests/test_rq_layout.py compares our job hashes with RQ's `Queue.enqueue`).
"""

from __future__ import annotations

from rq import Queue
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

JOB_PREFIX: str = Job.redis_job_namespace_prefix  # "rq:job:"
QUEUE_PREFIX: str = Queue.redis_queue_namespace_prefix  # "rq:queue:"
QUEUES_KEY: str = Queue.redis_queues_keys  # "rq:queues", the set of every queue's key
REGISTRIES = {
    "wip": StartedJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "canceled": CanceledJobRegistry,
}


def job_key(job_id: str) -> str:
    """RQ's hash of one job (`Job.key_for`)."""
    key = Job.key_for(job_id)
    return key.decode() if isinstance(key, bytes) else key


def queue_key(queue: str) -> str:
    """RQ's list of waiting job ids of `queue`."""
    return QUEUE_PREFIX + queue


def registry_key(kind: str, queue: str) -> str:
    """RQ's registry zset of `queue`: kind is wip (started), finished, failed, scheduled,
    deferred or canceled."""
    return REGISTRIES[kind].key_template.format(queue)
