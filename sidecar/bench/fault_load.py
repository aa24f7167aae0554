"""Steady load that survives faults: paced webhooks (as load.py, numbered and stamped) whose
every outcome is kept — an answer with its status and Retry-After, or the connection error.
A sender whose gateway refuses connections moves on to the next port (a load balancer),
and reconnects after a reset."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sidecar.bench.load import SEND_HEADERS, SEQUENCE, WEBHOOK_PATH, webhook_body

ANSWER_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Outcome:
    """One webhook: number, when due and answered (unix s), status (0: no answer),
    Retry-After given, the error's kind when there was no answer, and whether the
    connection had served a request before (a reused keep-alive connection)."""

    seq: int
    due: float
    answered: float
    status: int
    retry_after: bool
    error: str = ""
    reused: bool = False


class _Connection:
    """A keep-alive connection to one of `ports`, moving on when one refuses."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports, self.index = list(ports), 0
        self.conn: http.client.HTTPConnection | None = None
        self.served = 0

    def post(self, seq: int, due: float) -> Outcome:
        for _ in range(len(self.ports)):
            if self.conn is None:
                port = self.ports[self.index % len(self.ports)]
                self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                self.served = 0
            reused = self.served > 0
            try:
                return self._send(seq, due, reused)
            except ConnectionRefusedError:
                self._drop()
                self.index += 1  # that gateway is gone: the next one
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                return Outcome(seq, due, time.time(), 0, False, type(exc).__name__, reused)
        return Outcome(seq, due, time.time(), 0, False, "ConnectionRefusedError")

    def _send(self, seq: int, due: float, reused: bool) -> Outcome:
        assert self.conn is not None
        self.conn.request("POST", WEBHOOK_PATH, body=webhook_body(seq, due), headers=SEND_HEADERS)
        response = self.conn.getresponse()
        response.read()
        self.served += 1
        retry_after = response.getheader("Retry-After") is not None
        if response.getheader("Connection", "").lower() == "close":
            self._drop()
        return Outcome(seq, due, time.time(), response.status, retry_after, "", reused)

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def close(self) -> None:
        self._drop()


class FaultLoad:
    """`rate` webhooks a second for `duration` seconds on `senders` threads, in the
    background: `start()`, then `wait()` for every outcome, sorted by seq."""

    def __init__(self, ports: Sequence[int], rate: float, duration: float, senders: int) -> None:
        self.ports, self.rate, self.senders = list(ports), rate, senders
        self.total = max(1, round(rate * duration))
        self.first_seq = next(SEQUENCE)
        for _ in range(self.total - 1):
            next(SEQUENCE)
        self.started_at = 0.0  # unix time of the first webhook
        self._tickets = itertools.count()
        self._pool = ThreadPoolExecutor(senders)
        self._futures: list = []
        self._stop = threading.Event()

    def start(self) -> FaultLoad:
        """Begin sending now."""
        self._mono = time.monotonic() + 0.05
        self.started_at = time.time() + 0.05
        self._futures = [self._pool.submit(self._work) for _ in range(self.senders)]
        return self

    def elapsed(self) -> float:
        """Seconds since the load started."""
        return time.time() - self.started_at

    def wait(self) -> list[Outcome]:
        """Every outcome once the load is over."""
        outcomes = [outcome for future in self._futures for outcome in future.result()]
        self._pool.shutdown()
        return sorted(outcomes, key=lambda outcome: outcome.seq)

    def _work(self) -> list[Outcome]:
        conn, outcomes = _Connection(self.ports), []
        try:
            while (ticket := next(self._tickets)) < self.total:
                wait = self._mono + ticket / self.rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                outcomes.append(
                    conn.post(self.first_seq + ticket, self.started_at + ticket / self.rate)
                )
        finally:
            conn.close()
        return outcomes
