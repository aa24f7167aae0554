"""Wake-up calls: an idle worker starts on a new job at once instead of at its next poll.

Whoever pushes a job id on `rq:queue:<q>` also leaves one token on `sidecar:wake:<q>` (LPUSH,
then LTRIM to one element: tokens never pile up; see `queues.wake`). A worker's waker
thread, armed only while the worker idles, BLPOPs the token lists of its queues and, when a
token comes, ends the idle wait. Polling stays as the fallback (a job pushed by plain RQ, a
token taken by another idle worker), so a missed token costs at most one poll interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from sidecar.queues.wake import wake_key

log = logging.getLogger("sidecar.worker")
BLOCK_SECONDS = 1  # one BLPOP; shorter than the client's socket timeout
ARMED_CHECK_SECONDS = 0.5
RETRY_SECONDS = 1.0


class Waker:
    """Calls `wake()` when a job is pushed on one of `queues` while armed.

    Parameters: `client` (Redis; one pooled connection is held while blocking), `queues`
    (full queue names), `wake` (thread-safe, quick)."""

    def __init__(self, client: redis.Redis, queues: list[str], wake: Callable[[], None]) -> None:
        self.client, self.wake = client, wake
        self.keys = [wake_key(queue) for queue in queues]
        self.armed, self.stopped = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="waker", daemon=True)

    def start(self) -> Waker:
        """Start the thread (disarmed)."""
        self.thread.start()
        return self

    def arm(self) -> None:
        """The worker is about to wait idle: wake it when a job comes."""
        self.armed.set()

    def disarm(self) -> None:
        """The worker is busy: tokens can wait in Redis (one per queue at most)."""
        self.armed.clear()

    def stop(self) -> None:
        """End the thread within one BLPOP."""
        self.stopped.set()
        self.armed.set()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            if not self.armed.wait(ARMED_CHECK_SECONDS):
                continue
            try:
                token = self.client.blpop(self.keys, timeout=BLOCK_SECONDS)
            except redis.RedisError as exc:  # the main loop reports outages; poll meanwhile
                log.debug("wake-up wait failed: %s", exc)
                time.sleep(RETRY_SECONDS)
                continue
            if token and not self.stopped.is_set():
                self.wake()
