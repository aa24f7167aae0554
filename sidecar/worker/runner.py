"""The delivery worker: batches of RQ jobs, delivered concurrently over pooled connections.

One loop per process: take as many jobs as there are free delivery threads (within the
global limiter and the gate: the n8n circuit and the adaptive pace, see gate.py; in batches
while working off a backlog, see batching.py), deliver them on a thread pool, record
finished attempts in one Lua call, and run the periodic duties (retries due, lock
heartbeats, stalled-job recovery). Idle, it waits for a wake-up call (see wakeup.py),
polling at most every 100 ms meanwhile. SIGTERM stops taking new jobs, lets the deliveries
in flight finish, records them, and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue as stdqueue
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis

from sidecar.backend.connection import translate
from sidecar.backend.keys import keys_for, keys_for_queue
from sidecar.backend.scripts import Scripts
from sidecar.errors import BackendUnavailable
from sidecar.mode.counters import SignalCounters
from sidecar.queues.backpressure import DRAIN_TTL_SECONDS, drain_key
from sidecar.queues.jobs import (
    JOB_PREFIX,
    TakenJob,
    locks_key,
    parse_taken,
    queue_key,
    registry_key,
    rq_now,
)
from sidecar.queues.overview import paused_key
from sidecar.settings import Settings
from sidecar.upstream import Upstream
from sidecar.worker import batching, maintenance
from sidecar.worker.circuit import OUTAGE_ERROR
from sidecar.worker.execute import JobExecutor
from sidecar.worker.gate import Gate
from sidecar.worker.ledger import Ledger
from sidecar.worker.policy import Outcome
from sidecar.worker.registry import check_in, check_out
from sidecar.worker.wakeup import Waker

log = logging.getLogger("sidecar.worker")
IDLE_WAIT_SECONDS = 0.02  # first wait when nothing was taken; doubles up to the maximum
MAX_IDLE_WAIT_SECONDS = 0.1  # while idle: fewer Redis calls, at most this much added latency
PROMOTE_EVERY_SECONDS = 0.25
WIP_SCORE_MARGIN_SECONDS = 7 * 24 * 3600  # RQ's own abandoned-job sweep must never fire first


class Worker:
    """Delivers jobs from `queues` with `concurrency` deliveries in flight.

    Parameters: `settings`, `client` (Redis), `queues` (full queue names), `concurrency`,
    `burst` (exit once every queue, retry schedule and lock set is empty), `counters` (this
    process's signal counters, which keep n8n's answer times; fresh ones when None).
    """

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        queues: list[str],
        concurrency: int,
        burst: bool = False,
        counters: SignalCounters | None = None,
    ) -> None:
        self.settings, self.client, self.queues = settings, client, queues
        self.concurrency, self.burst = concurrency, burst
        self.counters = counters if counters is not None else SignalCounters()
        self.name = f"sidecar-{socket.gethostname()}-{os.getpid()}"
        self.exec_id = uuid.uuid4().hex[:12]
        self.scripts = Scripts(client)
        self.ledger = Ledger(client, self.scripts, settings, self.exec_id)
        self.upstream = Upstream(settings.n8n_url, settings.upstream_timeout_seconds, concurrency)
        self.executor = JobExecutor(settings, client, self.upstream)
        self.gate = Gate(settings, client, self.upstream, self.name, concurrency)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="deliver")
        # Not SimpleQueue: on CPython 3.11 its get(timeout) can block forever when a signal
        # handler (our SIGTERM one) runs past the deadline; Queue's lock-based wait cannot.
        # A None in `finished` is a wake-up call: a job was pushed while we idled.
        self.finished: stdqueue.Queue[tuple[TakenJob, Outcome] | None] = stdqueue.Queue()
        self.waker = Waker(client, queues, lambda: self.finished.put(None))
        self.in_flight: dict[str, str] = {}
        self._sent_at: dict[str, float] = {}  # job id -> when taken (monotonic)
        self.stopping = threading.Event()
        self._next = {"promote": 0.0, "heartbeat": 0.0, "sweep": 0.0}
        self._idle_wait = IDLE_WAIT_SECONDS
        self._cursor = 0
        self.refill_at = batching.refill_mark(concurrency)  # free slots
        self._last_fill = 0.0
        self._backlog = False  # the last fill found a job for every slot

    def stop(self, *_: object) -> None:
        """Take no new jobs; finish those in flight (SIGTERM / SIGINT handler)."""
        if not self.stopping.is_set():
            log.info(
                "worker %s stopping: %d delivery(ies) in flight", self.name, len(self.in_flight)
            )
        self.stopping.set()

    def run(self) -> int:
        """Work until stopped (or, in burst mode, until there is nothing left); exit code."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info(
            "worker %s delivering %s, concurrency %d",
            self.name,
            ", ".join(self.queues),
            self.concurrency,
        )
        self.waker.start()
        while not (self.stopping.is_set() and not self.in_flight):
            try:
                took = self._step()
            except BackendUnavailable as exc:
                log.warning("Redis unavailable, retrying in 1 s: %s", exc)
                time.sleep(1.0)
                continue
            if self.burst and not took and not self.in_flight and self._nothing_left():
                break
        self.waker.stop()
        self._shutdown()
        return 0

    def _step(self) -> int:
        """One turn of the loop; how many jobs were taken."""
        with translate():
            self._duties()
            if self._fill_due() or not self._backlog:
                self._record(wait=False)
            took = self._fill() if self._fill_due() else 0
            self._idle_wait = (
                IDLE_WAIT_SECONDS if took else min(2 * self._idle_wait, MAX_IDLE_WAIT_SECONDS)
            )
            if not took:
                self._wait()
        return took

    def _wait(self) -> None:
        """Nothing taken: wait for finished deliveries (see _collect); unless working off a
        backlog, also for a wake-up call or the poll interval."""
        if self._backlog:
            self._record(wait=True)
            return
        self.waker.arm()
        try:
            self._record(wait=True)
        finally:
            self.waker.disarm()

    def _duties(self) -> None:
        now = time.monotonic()
        if now >= self._next["promote"]:
            maintenance.promote_due(self.scripts, self.queues)
            self._next["promote"] = now + PROMOTE_EVERY_SECONDS
        if now >= self._next["heartbeat"]:
            maintenance.extend_locks(self.client, self.settings, dict(self.in_flight))
            check_in(self.client, keys_for(self.settings), self.name)
            self._next["heartbeat"] = now + self.settings.lock_seconds / 3
        self.ledger.trim_due()
        self.gate.tick()
        if now >= self._next["sweep"]:
            maintenance.recover_stalled(self.scripts, self.ledger, self.queues)
            self._next["sweep"] = now + self.settings.stalled_interval_seconds

    def _fill(self) -> int:
        """Take jobs for the free delivery slots, queue by queue in turn (a paused queue gives
        none: dequeue.lua checks)."""
        took = 0
        order = self.queues[self._cursor :] + self.queues[: self._cursor]
        self._cursor = (self._cursor + 1) % len(self.queues)
        slots = self.gate.slots()
        for queue in order:
            free = self._free()
            if free <= 0:
                break
            for job in self._take(queue, free):
                self.in_flight[job.id] = queue
                self._sent_at[job.id] = time.monotonic()
                self.pool.submit(self._deliver, job)
                took += 1
        self._last_fill = time.monotonic()
        self._backlog = self._free() <= 0 and slots > 0  # every slot got a job
        return took

    def _free(self) -> int:
        """Jobs to take now: free threads, within the gate's slots; a delivery in flight far
        longer than n8n's usual answer time (gate.counted) no longer holds a slot of the pace
        (it still holds its thread)."""
        threads = self.concurrency - len(self.in_flight)
        return min(threads, self.gate.slots() - self.gate.counted(self._sent_at.values()))

    def _fill_due(self) -> bool:
        """Whether to take jobs now (see _fill_at)."""
        free = self._free()
        return not self.stopping.is_set() and time.monotonic() >= self._fill_at(free)

    def _fill_at(self, free: int) -> float:
        """When to take jobs for `free` free slots (batching.fill_at)."""
        return batching.fill_at(free, self.refill_at, self._backlog, self._last_fill)

    def _take(self, queue: str, wanted: int) -> list[TakenJob]:
        """Up to `wanted` jobs from `queue`, within the global delivery limit (one Lua call)."""
        now = time.time()
        window = int(now // self.settings.worker_limit_duration_seconds)
        flat = self.scripts.dequeue(
            keys=[
                queue_key(queue),
                registry_key("wip", queue),
                locks_key(queue),
                keys_for_queue(queue).limit(queue, window),
                paused_key(queue),
                drain_key(queue, now),
            ],
            args=[
                wanted,
                now + self.settings.lock_seconds,
                now + WIP_SCORE_MARGIN_SECONDS,
                rq_now(),
                self.name,
                self.exec_id,
                JOB_PREFIX,
                keys_for(self.settings).delivered_prefix,
                self.settings.worker_limit_max,
                int(self.settings.worker_limit_duration_seconds * 1000),
                DRAIN_TTL_SECONDS,
            ],
        )
        return parse_taken(queue, flat)

    def _deliver(self, job: TakenJob) -> None:
        """Thread-pool task: one delivery attempt (skipped if a previous run delivered it)."""
        try:
            if job.delivered:
                outcome = Outcome("done", error="already delivered by a previous run")
            elif self.gate.expired():  # n8n unreachable past SIDECAR_MAX_OUTAGE_SECONDS
                outcome = Outcome("dead", error=OUTAGE_ERROR)
            else:
                outcome = self.executor.run(job)
                if outcome.status is not None:
                    # n8n's answer time: an ADR-001 signal
                    self.counters.record_latency(outcome.duration)
        except Exception as exc:  # never lose a job to a bug: record it as a failed attempt
            log.exception("delivery of job %s crashed", job.id)
            outcome = Outcome("retry", error=f"delivery crashed: {exc!r}")
        self.finished.put((job, outcome))

    def _record(self, wait: bool) -> None:
        """Write the outcomes of finished deliveries (waiting for some if asked: _collect)."""
        batch = self._collect(self._idle_wait if wait else 0.0)
        if not batch:
            return
        try:
            self.ledger.record(batch)
        except Exception:
            for item in batch:  # keep them; the next turn records them again
                self.finished.put(item)
            raise
        for job, outcome in batch:
            self.in_flight.pop(job.id, None)
            self._sent_at.pop(job.id, None)
            self.gate.observe(outcome)

    def _collect(self, timeout: float) -> list[tuple[TakenJob, Outcome]]:
        """Finished deliveries: those already in, waiting up to `timeout` for the first; while
        a backlog is worked off, waiting for more until the next fill is due (_fill_at). A
        wake-up call ends the wait."""
        batch: list[tuple[TakenJob, Outcome]] = []
        free = self._free()
        deadline = time.monotonic() + timeout
        if self._backlog:
            deadline = min(deadline, self._fill_at(free))
        while True:
            left = deadline - time.monotonic()
            try:
                item = self.finished.get(timeout=left) if left > 0 else self.finished.get_nowait()
            except stdqueue.Empty:
                return batch
            if item is None:
                deadline = 0.0  # a wake-up call: take what is there without waiting
                continue
            batch.append(item)
            deadline = min(deadline, self._fill_at(free + len(batch)))

    def _paused(self) -> set[str]:
        """Our queues an operator paused (POST /v1/queues/{queue}/pause): take nothing there."""
        with self.client.pipeline(transaction=False) as pipe:
            for queue in self.queues:
                pipe.exists(paused_key(queue))
            flags = pipe.execute()
        return {queue for queue, flag in zip(self.queues, flags, strict=True) if flag}

    def _nothing_left(self) -> bool:
        """Burst mode: no waiting, scheduled or locked job on any of our unpaused queues."""
        paused = self._paused()
        with self.client.pipeline(transaction=False) as pipe:
            for queue in (q for q in self.queues if q not in paused):
                pipe.llen(queue_key(queue))
                pipe.zcard(registry_key("scheduled", queue))
                pipe.zcard(locks_key(queue))
            return not any(pipe.execute())

    def _shutdown(self) -> None:
        self.pool.shutdown(wait=True)
        while self.in_flight:
            try:
                with translate():
                    self._record(wait=True)
            except BackendUnavailable as exc:
                log.warning("cannot record outcomes yet, retrying: %s", exc)
                time.sleep(1.0)
        self.upstream.close()
        with contextlib.suppress(redis.RedisError):
            self.ledger.trim_due(force=True)
            check_out(self.client, keys_for(self.settings), self.name)
            self.gate.withdraw()
        log.info("worker %s stopped", self.name)
