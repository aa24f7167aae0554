"""Wake-up tokens: pushing a job also leaves one token for an idle worker (worker/wakeup.py).

`sidecar:wake:<queue>` is a list trimmed to one element, so tokens never pile up however
many jobs are pushed while every worker is busy.
"""

from __future__ import annotations

from redis.client import Pipeline

from sidecar.backend.keys import keys_for_queue


def wake_key(queue: str) -> str:
    """The token list of `queue`."""
    return keys_for_queue(queue).wake(queue)


def leave_token(pipe: Pipeline, queue: str) -> None:
    """Queue on `pipe` the commands that leave one wake-up token for `queue`."""
    pipe.lpush(wake_key(queue), 1)
    pipe.ltrim(wake_key(queue), 0, 0)
